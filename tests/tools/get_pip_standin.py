"""Stand-in for the pip bootstrap script ansible-test downloads from ci-files.testing.ansible.com
(unreachable from CI here): put the pip wheel Python itself bundles into this interpreter
(ensurepip), then run `pip install` with the arguments ansible-test passes (the pinned pip,
and setuptools and wheel unless told --no-setuptools / --no-wheel, which only the bootstrap
script knows), from the package index like every other install.

ansible-test runs pip with a clean environment, so the system CA bundle (which holds a
TLS-intercepting proxy's CA, where there is one) is named on this install's command line and,
in a virtualenv, in its own pip.conf for the installs that follow."""

import ensurepip
import os
import runpy
import sys

BUNDLE = "/etc/ssl/certs/ca-certificates.crt"

if os.path.exists(BUNDLE) and sys.prefix != sys.base_prefix:
    with open(os.path.join(sys.prefix, "pip.conf"), "w") as conf:
        conf.write("[global]\ncert = %s\n" % BUNDLE)
ensurepip.bootstrap(upgrade=True)
sys.argv = ["pip", "install"] + [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
if os.path.exists(BUNDLE):
    sys.argv[2:2] = ["--cert", BUNDLE]
runpy.run_module("pip", run_name="__main__", alter_sys=True)
