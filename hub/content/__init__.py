"""Content the hub publishes itself: app versions, policies and news, agency introductions, the personal
inbox and the agency directory for LBS. Staff write through the service functions here (each write is
audited in the same transaction); the app and the portal read."""
