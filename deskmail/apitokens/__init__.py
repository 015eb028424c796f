"""Personal access tokens: how programs sign in to the API as a person."""
