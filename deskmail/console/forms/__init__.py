"""The console's forms: every input a person sends is read through one of these."""
