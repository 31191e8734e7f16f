"""`circulo monitor`: samples what the alert rules need over time and the database cannot keep by itself."""
