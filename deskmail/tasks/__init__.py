"""Tasks on a ticket for a colleague or an outside person, asked and answered by email."""
