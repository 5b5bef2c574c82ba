"""``python -m loadtest``: see ``loadtest.runner``."""

from loadtest.runner import main

if __name__ == "__main__":
    main()
