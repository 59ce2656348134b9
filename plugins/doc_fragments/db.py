# Copyright: Fleetworks engineers
# Apache License 2.0 (https://www.apache.org/licenses/LICENSE-2.0)
"""The options of the modules that read the metadata DB directly."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  db_url:
    description: The metadata DB's SQLAlchemy URL (C([database] sql_alchemy_conn)).
    type: str
    required: true
  connect_timeout:
    description: Seconds to wait for the DB.
    type: int
    default: 10
"""
