"""Certificates (参保证明, 个人权益记录单, 单位参保证明): signed PDFs with a verification code and QR code.

Framework-free: ``content`` describes what a certificate states, ``pdf`` renders it, ``signing`` signs
it with the hub's own signing certificate, ``codes`` makes and checks the verification code (a keyed
MAC), and ``service`` issues and verifies certificates against the hub DB.
"""
