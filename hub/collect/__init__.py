"""数据采集: the initial collection of a unit not yet registered in the core (unit, active staff, retirees).

``model`` is the payload (one declaration of type ``unit_collect``), ``rows`` reads the person lists of the
forms, ``upload`` the same lists from a spreadsheet (and its template), ``package`` the encrypted and signed
package of the offline version (单机版), ``local`` its SQLite file with the unit key ``seal``-ed under the
operator's passphrase, ``keys`` the agency's SM2 key pair, ``service`` the submission, the import of a
package and the delivery of the activation code once the core has opened the unit.
"""
