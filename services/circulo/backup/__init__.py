"""`circulo backup`: one encrypted archive of what a restore needs, and the restore that proves it."""
