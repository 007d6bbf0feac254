"""Reports, figures and animations of training runs (``instrumental-report``)."""

if (
    __name__ == "analysis"
):  # this folder imported from the repository root, beside the installed copy
    import sys

    _USE = (
        "import instrumental.analysis, not analysis (run `instrumental-report`): "
        "the folder analysis/ is the package instrumental.analysis"
    )
    # `python -m analysis` gets this line alone; `import analysis`, an ImportError saying it.
    raise SystemExit(_USE) if sys.argv[:1] == ["-m"] else ImportError(_USE)
