"""The start-up room: every trick played for start-up speed (see lazy, declared, peek, program)."""
