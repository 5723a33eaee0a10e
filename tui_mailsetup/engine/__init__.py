"""Plain-Python engines (SMTP, DNS, detection): no Textual import anywhere below here."""
