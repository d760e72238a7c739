"""Public-services hub kernel shared by every front end and worker."""
