"""The trainers: the ``instrumental-train`` Hydra app, the SB3 runner and the fleet."""

if __name__ == "train":  # this folder imported from the repository root, beside the installed copy
    import sys

    _USE = (
        "import instrumental.train, not train (run `instrumental-train` or "
        "`python -m instrumental.train`): "
        "the folder train/ is the package instrumental.train"
    )
    # `python -m train` gets this line alone; `import train`, an ImportError saying it.
    raise SystemExit(_USE) if sys.argv[:1] == ["-m"] else ImportError(_USE)
