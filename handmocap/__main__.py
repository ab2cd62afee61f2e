"""`python -m handmocap` runs the command-line interface."""
from handmocap_cli.app import main

if __name__ == "__main__":
    main()
