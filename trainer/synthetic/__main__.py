"""``python -m trainer.synthetic``: see ``trainer.synthetic.main``."""

from trainer.synthetic import main

if __name__ == "__main__":
    raise SystemExit(main())
