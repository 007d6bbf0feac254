"""Hydra configs of ``instrumental-train`` (installed as ``instrumental.conf``)."""

if __name__ == "conf":  # this folder imported from the repository root, beside the installed copy
    import sys

    _USE = "import instrumental.conf, not conf: the folder conf/ is the package instrumental.conf"
    # `python -m conf` gets this line alone; `import conf`, an ImportError saying it.
    raise SystemExit(_USE) if sys.argv[:1] == ["-m"] else ImportError(_USE)
