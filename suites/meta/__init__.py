"""Meta tests: deliberately broken pruners (mutants) that the conformance checks must catch.

``suites.meta.mutants`` holds the mutants; ``suites.meta.test_mutants`` proves that every
check catches at least one of them and that the reference pruner passes the same checks.
Any mutant can also be run through the whole suite: ``--pruner suites.meta.mutants:<name>``.
"""
