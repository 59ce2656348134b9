# Copyright: Fleetworks engineers
# Apache License 2.0 (https://www.apache.org/licenses/LICENSE-2.0)
"""The options every module that calls the Airflow REST API shares."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  api_url:
    description:
      - Base URL of an Airflow API server (or of the fleet's API endpoint), without a path.
    type: str
    default: http://127.0.0.1:8080
  api_username:
    description:
      - The Airflow user the module logs in as (C(POST /auth/token)).
    type: str
    default: admin
  api_password:
    description:
      - That user's password. Never logged, never on a command line.
    type: str
    required: true
  api_timeout:
    description:
      - Seconds to wait for one answer.
    type: float
    default: 15
  api_retries:
    description:
      - How often a request is tried again when no answer came, or a gateway answered 502, 503 or 504
        (an API server restarting behind a load balancer), with a growing pause (0.5 s to 8 s).
    type: int
    default: 5
  ca_path:
    description:
      - CA bundle that signed the API server's certificate, for an C(https) I(api_url).
    type: path
  validate_certs:
    description:
      - Whether an C(https) API server's certificate is verified. Turn off only for a test.
    type: bool
    default: true
"""
