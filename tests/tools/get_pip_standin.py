"""Stand-in for the pip bootstrap script ansible-test downloads from ci-files.testing.ansible.com
(unreachable from CI here): put the pip wheel Python itself bundles into this interpreter
(ensurepip), then run `pip install` with the arguments ansible-test passes (the pinned pip,
setuptools and wheel), from the package index like every other install."""

import ensurepip
import runpy
import sys

ensurepip.bootstrap(upgrade=True)
sys.argv = ["pip", "install"] + sys.argv[1:]
runpy.run_module("pip", run_name="__main__", alter_sys=True)
