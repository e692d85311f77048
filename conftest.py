# The suite's pytest plugin (options, markers, hypothesis profiles, results) lives in one file.
pytest_plugins = ("suites.plugin", "suites.selection")
