#!/usr/bin/python
# Copyright: Fleetworks engineers
# Apache License 2.0 (https://www.apache.org/licenses/LICENSE-2.0)

DOCUMENTATION = r"""
module: airflow_user
short_description: Make a user of Airflow's FAB auth manager present or absent, through the REST API
description:
  - Creates, updates or deletes one user of the FAB auth manager (C(/auth/fab/v1/users)), the auth manager the
    collection's fleets run.
  - Changes only what differs. A password cannot be read back, so the module tries it, logging in as the user;
    the password is set only when that login fails (or with I(update_password=on_create), never for an existing user).
version_added: 0.1.0
author: Fleetworks engineers (@fleetworks)
extends_documentation_fragment:
  - fleetworks.airflow.api
options:
  username:
    description: The user's login name.
    type: str
    required: true
  password:
    description: The user's password (never logged). Required to create a user.
    type: str
  email:
    description: E-mail address. Required to create a user.
    type: str
  first_name:
    description: First name. Required to create a user.
    type: str
  last_name:
    description: Last name. Required to create a user.
    type: str
  roles:
    description: Role names (C(Admin), C(Op), C(User), C(Viewer), C(Public) or roles of your own); the user gets exactly these.
    type: list
    elements: str
  update_password:
    description: C(always) sets I(password) whenever logging in with it fails; C(on_create) only for a new user.
    type: str
    choices: [always, on_create]
    default: always
  state:
    description: Whether the user exists.
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    description: Can run in check mode and report what would change without changing it.
    support: full
  diff_mode:
    description: Reports the object before and after the change.
    support: full
    details: The password is never shown, only whether it changes.
"""

EXAMPLES = r"""
- name: A read-only account for the on-call dashboard
  fleetworks.airflow.airflow_user:
    api_url: https://airflow.example.com
    api_password: "{{ vault_airflow_admin_password }}"
    username: oncall
    password: "{{ vault_oncall_password }}"
    email: oncall@example.com
    first_name: Ada
    last_name: Lovelace
    roles: [Viewer]
"""

RETURN = r"""
differing:
  description: The fields that differed (C(password) when it was set).
  returned: always
  type: list
  elements: str
user:
  description: The user after the run (roles as names).
  returned: when I(state=present)
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fleetworks.airflow.plugins.module_utils.airflow_api import (
    API_ARGUMENT_SPEC, AirflowApi, AirflowApiError, quote_id)

USERS = "/auth/fab/v1/users"
PROFILE = ("email", "first_name", "last_name")


def profile_of(user):
    """The compared fields of a stored user (roles as sorted names)."""
    shown = {name: user.get(name) for name in PROFILE}
    shown["roles"] = sorted(role["name"] for role in user.get("roles") or [])
    return shown


def password_works(api, username, password):
    """Whether the user can log in with the password."""
    try:
        AirflowApi(api.base, username, password, timeout=api.timeout, retries=api.retries, opener=api._opener).login()
        return True
    except AirflowApiError as error:
        if error.status in (401, 403):
            return False
        raise


def ensure_user(api, params, check_mode):
    """(changed, before, after, differing)."""
    path = "%s/%s" % (USERS, quote_id(params["username"]))
    current = api.get(path, missing_ok=True)
    if params["state"] == "absent":
        if current is None:
            return False, {}, {}, []
        if not check_mode:
            api.delete(path)
        return True, profile_of(current), {}, []
    wanted = {name: params[name] for name in PROFILE if params[name] is not None}
    if params["roles"] is not None:
        wanted["roles"] = sorted(set(params["roles"]))
    if current is None:
        missing = [name for name in ("password",) + PROFILE if not params[name]]
        if missing:
            raise ValueError("creating user %s needs %s" % (params["username"], ", ".join(missing)))
        body = dict(wanted, username=params["username"], password=params["password"],
                    roles=[{"name": name} for name in wanted.get("roles", [])])
        if not check_mode:
            api.post(USERS, body)
        return True, {}, dict(wanted, username=params["username"]), sorted(wanted) + ["password"]
    before = profile_of(current)
    differing = sorted(name for name, value in wanted.items() if before.get(name) != value)
    if (params["password"] and params["update_password"] == "always"
            and not password_works(api, params["username"], params["password"])):
        differing.append("password")
    if not differing:
        return False, before, before, []
    if not check_mode:
        body = {name: wanted[name] for name in differing if name != "password"}
        if "roles" in body:
            body["roles"] = [{"name": name} for name in body["roles"]]
        if "password" in differing:
            body["password"] = params["password"]
        api.patch(path, body, params={"update_mask": ",".join(sorted(body))})
    return True, before, dict(before, **wanted), differing


def main():
    spec = dict(
        API_ARGUMENT_SPEC,
        username=dict(type="str", required=True),
        password=dict(type="str", no_log=True),
        email=dict(type="str"),
        first_name=dict(type="str"),
        last_name=dict(type="str"),
        roles=dict(type="list", elements="str"),
        update_password=dict(type="str", choices=["always", "on_create"], default="always", no_log=False),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    try:
        changed, before, after, differing = ensure_user(AirflowApi.from_module(module), module.params, module.check_mode)
    except AirflowApiError as error:
        module.fail_json(msg=str(error), status=error.status)
    except ValueError as error:
        module.fail_json(msg=str(error))
    result = dict(changed=changed, differing=differing)
    if module._diff:
        result["diff"] = dict(before=before, after=after)
    if module.params["state"] == "present":
        result["user"] = after
    module.exit_json(**result)


if __name__ == "__main__":
    main()
