"""``python -m circulo`` runs the command line."""

from circulo.cli import main

main()
