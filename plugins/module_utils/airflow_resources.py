# Copyright: Fleetworks engineers
# Apache License 2.0 (https://www.apache.org/licenses/LICENSE-2.0)
"""Declarative present/absent for Airflow REST resources (connections, variables, pools, users).

A resource is read by its id, compared field by field with what is wanted, and created,
updated or deleted only when it differs. Fields the API never returns in clear (a
connection's password, a variable whose key Airflow masks) are compared through a
keyed digest of the declared fields that the module keeps at the end of the resource's
description, so a changed secret is noticed without reading it back.
"""

import hashlib
import json

from ansible_collections.fleetworks.airflow.plugins.module_utils.airflow_api import AirflowApi, AirflowApiError, quote_id

MARK = " [managed by fleetworks.airflow: "


def digest(key, fields):
    """16 hex digits of a keyed digest of the fields (what the description carries)."""
    text = json.dumps(fields, sort_keys=True)
    return hashlib.sha256((key + text).encode()).hexdigest()[:16]


def marked(description, key, fields):
    """The description the resource is stored with: the user's text and the digest mark."""
    return "%s%s%s]" % (description, MARK, digest(key, fields))


def unmarked(description):
    """The user's part of a stored description."""
    if description and MARK in description:
        return description[:description.rindex(MARK)]
    return description


class Resource:
    """One kind of resource under ``collection`` (``/api/v2/pools``), each at ``<collection>/<id>``.

    ``compared`` are the fields whose stored values must equal the wanted ones; every
    other wanted field is written but only compared through the description's digest.
    """

    def __init__(self, api, collection, compared, hidden=()):
        self.api = api
        self.collection = collection
        self.compared = tuple(compared)
        self.hidden = tuple(hidden)

    def path(self, resource_id):
        return "%s/%s" % (self.collection, quote_id(resource_id))

    def read(self, resource_id):
        return self.api.get(self.path(resource_id), missing_ok=True)

    def differs(self, current, wanted):
        """The compared fields whose stored value is not the wanted one."""
        return sorted(name for name in self.compared if name in wanted and current.get(name) != wanted[name])

    def shown(self, state):
        """What a diff or a result may show: hidden fields masked."""
        if state is None:
            return {}
        return {name: ("********" if name in self.hidden and value is not None else value)
                for name, value in sorted(state.items())}

    def ensure(self, resource_id, wanted, state="present", check_mode=False):
        """(changed, before, after, differing field names); before/after have hidden fields masked."""
        current = self.read(resource_id)
        if state == "absent":
            if current is None:
                return False, {}, {}, []
            if not check_mode:
                self.api.delete(self.path(resource_id))
            return True, self.shown(current), {}, []
        if current is None:
            if not check_mode:
                self.api.post(self.collection, wanted)
            return True, {}, self.shown(wanted), sorted(wanted)
        differing = self.differs(current, wanted)
        if not differing:
            return False, self.shown(current), self.shown(current), []
        if not check_mode:
            self.api.patch(self.path(resource_id), wanted)
        after = dict(current, **wanted)
        return True, self.shown(current), self.shown(after), differing


def run_resource_module(module, build, returned):
    """The shared body of the declarative modules: ``build(api)`` returns (resource, id, wanted); the
    module exits with changed, differing, the diff (in diff mode) and, when present, the stored
    resource as ``returned`` (hidden fields masked)."""
    api = AirflowApi.from_module(module)
    try:
        resource, resource_id, wanted = build(api)
        changed, before, after, differing = resource.ensure(resource_id, wanted, module.params["state"],
                                                            module.check_mode)
    except AirflowApiError as error:
        module.fail_json(msg=str(error), status=error.status)
    result = dict(changed=changed, differing=differing)
    if module._diff:
        result["diff"] = dict(before=before, after=after)
    if module.params["state"] == "present":
        result[returned] = after
    module.exit_json(**result)
