#!/usr/bin/python
# Copyright: Fleetworks engineers
# Apache License 2.0 (https://www.apache.org/licenses/LICENSE-2.0)

DOCUMENTATION = r"""
module: airflow_files
short_description: Make a batch of files, directories and links on this host match what is given, in one call
description:
  - Compares every entry of I(files) with what the host has (content, link target, owner, group, mode) and changes
    only what differs, so a re-run that changes nothing checks a whole batch in one round trip instead of one task
    per file.
  - A file's content is written to a temporary file beside it, given its owner, group and mode, then renamed over the
    old one, so a reader never sees half a file.
  - Contents that hold secrets reach the host in the module's arguments, never on a command line; run such a task
    with C(no_log) and with diff mode off for that task.
version_added: 0.1.0
author: Fleetworks engineers (@fleetworks)
options:
  files:
    description: What each path must be.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: The absolute path.
        type: path
        required: true
      state:
        description:
          - C(file) with I(content), C(directory) (missing parents are created too), C(link) to I(src), or C(absent)
            (files and links only).
        type: str
        choices: [file, directory, link, absent]
        default: file
      content:
        description: The file's content (C(state=file)).
        type: str
      src:
        description: The link's target (C(state=link)), written as given.
        type: str
      owner:
        description: The owner's user name; omitted, it is left as it is (root for a new file).
        type: str
      group:
        description: The group's name; omitted, it is left as it is.
        type: str
      mode:
        description: The mode, octal in a string such as C("0640"); omitted, it is left as it is (C(0644) for a new file).
        type: str
attributes:
  check_mode:
    description: Can run in check mode and report what would change without changing it.
    support: full
  diff_mode:
    description: Reports the object before and after the change.
    support: full
    details: For files, the old and new content; for the rest, the state, owner, group and mode.
"""

EXAMPLES = r"""
- name: Install the command wrappers and their directory
  fleetworks.airflow.airflow_files:
    files:
      - {path: /opt/airflow/bin, state: directory, owner: root, group: root, mode: "0755"}
      - path: /opt/airflow/bin/hello
        content: "#!/bin/sh\necho hello\n"
        owner: root
        group: root
        mode: "0755"
      - {path: /opt/airflow/bin/old-helper, state: absent}

- name: Write the environment files
  fleetworks.airflow.airflow_files:
    files: "{{ env_files }}"
  no_log: true
  diff: false
"""

RETURN = r"""
changed_paths:
  description: The paths changed (or, in check mode, that would change).
  returned: always
  type: list
  elements: str
  sample: [/etc/airflow/env/scheduler.env]
"""

import grp
import os
import pwd
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule


class Host:
    """The file system calls, so the comparison can be tested on a temporary directory as any user."""

    def uid(self, owner):
        return pwd.getpwnam(owner).pw_uid

    def gid(self, group):
        return grp.getgrnam(group).gr_gid


def current(path):
    """(kind, stat) of what is at path: kind is file, directory, link, other or absent."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return "absent", None
    if stat.S_ISLNK(info.st_mode):
        return "link", info
    if stat.S_ISDIR(info.st_mode):
        return "directory", info
    if stat.S_ISREG(info.st_mode):
        return "file", info
    return "other", info


def read(path):
    with open(path, "rb") as handle:
        return handle.read()


def wanted_attrs(entry, host):
    uid = host.uid(entry["owner"]) if entry.get("owner") else None
    gid = host.gid(entry["group"]) if entry.get("group") else None
    mode = int(entry["mode"], 8) if entry.get("mode") else None
    return uid, gid, mode


def attrs_differ(info, uid, gid, mode):
    return ((uid is not None and info.st_uid != uid) or (gid is not None and info.st_gid != gid)
            or (mode is not None and stat.S_IMODE(info.st_mode) != mode))


def set_attrs(path, uid, gid, mode, follow=True):
    if uid is not None or gid is not None:
        if follow:
            os.chown(path, -1 if uid is None else uid, -1 if gid is None else gid)
        else:
            os.lchown(path, -1 if uid is None else uid, -1 if gid is None else gid)
    if mode is not None and follow:
        os.chmod(path, mode)


def write_file(path, data, uid, gid, mode):
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        set_attrs(tmp, uid, gid, 0o644 if mode is None else mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


def describe(kind, info):
    if info is None:
        return "state: absent\n"
    return "state: %s\nuid: %d\ngid: %d\nmode: %04o\n" % (kind, info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode))


def converge(entry, host, check_mode):
    """Make one path match its entry; returns (changed, diff or None)."""
    path, state = entry["path"], entry["state"]
    kind, info = current(path)
    if state == "absent":
        if kind == "absent":
            return False, None
        if not check_mode:
            if kind == "directory":
                raise ValueError("%s is a directory; airflow_files removes files and links only" % path)
            os.unlink(path)
        return True, dict(before=describe(kind, info), after="state: absent\n", before_header=path, after_header=path)

    try:
        uid, gid, mode = wanted_attrs(entry, host)
    except KeyError:
        # In check mode the user or group may be one an earlier task would have created.
        if not check_mode:
            raise
        return True, dict(before=describe(kind, info), after="state: %s\nowner: %s\ngroup: %s\n"
                          % (state, entry.get("owner"), entry.get("group")), before_header=path, after_header=path)
    if state == "directory":
        if kind not in ("directory", "absent"):
            raise ValueError("%s exists and is not a directory" % path)
        if kind == "directory" and not attrs_differ(info, uid, gid, mode):
            return False, None
        if not check_mode:
            if kind == "absent":
                os.makedirs(path, 0o755 if mode is None else mode)
            set_attrs(path, uid, gid, mode)
        return True, dict(before=describe(kind, info), after="state: directory\n", before_header=path, after_header=path)

    if state == "link":
        if entry.get("src") is None:
            raise ValueError("%s: state=link needs src" % path)
        # A link's own mode means nothing on Linux: only its target, owner and group are compared.
        if kind == "link" and os.readlink(path) == entry["src"] and not attrs_differ(info, uid, gid, None):
            return False, None
        if kind not in ("link", "absent"):
            raise ValueError("%s exists and is not a link" % path)
        before = "link: %s\n" % os.readlink(path) if kind == "link" else "state: absent\n"
        if not check_mode:
            tmp = "%s.fleet-tmp" % path
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.symlink(entry["src"], tmp)
            set_attrs(tmp, uid, gid, None, follow=False)
            os.replace(tmp, path)
        return True, dict(before=before, after="link: %s\n" % entry["src"], before_header=path, after_header=path)

    if entry.get("content") is None:
        raise ValueError("%s: state=file needs content" % path)
    data = entry["content"].encode("utf-8")
    if kind not in ("file", "absent"):
        raise ValueError("%s exists and is not a regular file" % path)
    old = read(path) if kind == "file" else None
    if old == data and not attrs_differ(info, uid, gid, mode):
        return False, None
    if not check_mode:
        write_file(path, data, uid, gid, mode)
    before = old.decode("utf-8", "replace") if old is not None else ""
    if old == data:
        before, after = describe(kind, info), "uid: %s\ngid: %s\nmode: %s\n" % (uid, gid, entry.get("mode"))
    else:
        after = entry["content"]
    return True, dict(before=before, after=after, before_header=path, after_header=path)


def converge_all(entries, host, check_mode):
    changed, diffs = [], []
    for entry in entries:
        did, diff = converge(entry, host, check_mode)
        if did:
            changed.append(entry["path"])
            diffs.append(diff)
    return changed, diffs


def main():
    module = AnsibleModule(
        argument_spec=dict(
            files=dict(type="list", elements="dict", required=True, options=dict(
                path=dict(type="path", required=True),
                state=dict(type="str", default="file", choices=["file", "directory", "link", "absent"]),
                content=dict(type="str"),
                src=dict(type="str"),
                owner=dict(type="str"),
                group=dict(type="str"),
                mode=dict(type="str"),
            )),
        ),
        supports_check_mode=True,
    )
    try:
        changed, diffs = converge_all(module.params["files"], Host(), module.check_mode)
    except (ValueError, KeyError, OSError) as error:
        module.fail_json(msg="airflow_files: %s" % error)
    result = dict(changed=bool(changed), changed_paths=changed)
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
