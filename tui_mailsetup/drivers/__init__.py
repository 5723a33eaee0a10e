"""Drivers: one module each, one small interface (:class:`base.MailDriver`)."""
