"""The bad-input corpus: malformed secret manifests and environment files.

Each :class:`Case` is a set of files and the problems they must produce,
as (file, line, column, text the message contains). The texts of the
environment and manifest are built from two valid bases by replacing or
adding lines, so each case differs from a working input by one mistake.

``{state_dir}``, ``{tenant}``, ``{subscription}``, ``{vault}``, ``{app}``
in environment texts are filled in with a live emulator's values: the
inputs aim at a real vault, so a validation gap would show up as a write.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

MANIFEST = """\
scope: acme
secrets:
  - name: db-password
    value: {env: REL_DB_PASSWORD}
    expires: 90d
  - name: api-key
    value: {generate: {length: 32}}
"""

ENVIRONMENT = """\
target:
  kind: emulator
  state_dir: {state_dir}
tenant_id: {tenant}
subscription_id: {subscription}
resource_group:
  name: rg-local
  location: westeurope
vault:
  name: {vault}
  purge_protection: true
  soft_delete_retention_days: 90
access:
  - name: app-reads
    principal_id: {app}
    role: Key Vault Secrets User
sync:
  identity: sync
"""

#: Environment variables the valid bases need.
BASE_ENVIRON = {"REL_DB_PASSWORD": "rel-db-password-value-0b7e"}


def replace_line(text: str, line: int, new: str) -> str:
    """``text`` with its 1-based ``line`` replaced by ``new`` (which may hold newlines)."""
    lines = text.splitlines()
    lines[line - 1] = new
    return "\n".join(lines) + "\n"


def insert_after(text: str, line: int, new: str) -> str:
    lines = text.splitlines()
    lines[line:line] = new.splitlines()
    return "\n".join(lines) + "\n"


def billion_laughs(key: str = "bomb") -> str:
    """Nine levels of nine aliases each: 9**9 (387 million) values if expanded."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 9):
        refs = ", ".join([f"*l{level - 1}"] * 9)
        lines.append(f"l{level}: &l{level} [{refs}]")
    lines.append(f"{key}: *l8")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Symlink:
    """A file that is a symbolic link to ``target``."""

    target: str


@dataclass(frozen=True)
class Expect:
    file: str
    line: int
    column: int
    text: str


@dataclass(frozen=True)
class Case:
    """One malformed input: ``kind`` is "manifest" or "environment"."""

    id: str
    kind: str
    category: str
    files: dict[str, str | bytes | Symlink | Callable[[], bytes]]
    expect: tuple[Expect, ...]
    environ: dict[str, str] = field(default_factory=dict)
    missing_env_file: bool = False  # the environment file itself does not exist

    def content(self, name: str) -> bytes:
        raw = self.files[name]
        assert not isinstance(raw, Symlink)
        if callable(raw):
            return raw()
        return raw.encode("utf-8") if isinstance(raw, str) else raw


def m(id: str, category: str, text: str | bytes, *expect: tuple[int, int, str], **kw) -> Case:
    """A one-file manifest case (the file is acme.yaml)."""
    return Case(
        id,
        "manifest",
        category,
        {"acme.yaml": text},
        tuple(Expect("acme.yaml", *e) for e in expect),
        **kw,
    )


def e(id: str, category: str, text: str | bytes, *expect: tuple[int, int, str], **kw) -> Case:
    """An environment-file case (the file is env.yaml)."""
    return Case(
        id,
        "environment",
        category,
        {"env.yaml": text},
        tuple(Expect("env.yaml", *x) for x in expect),
        **kw,
    )


BIG_VALUE = "x" * (25 * 1024 + 1)

# The deep-nesting and path-escape cases failed until commit 034af30.

MANIFEST_CASES = [
    m(
        "m-yaml-unclosed-flow",
        "yaml syntax",
        replace_line(MANIFEST, 4, "    value: {env: REL_DB_PASSWORD"),
        (5, 12, "invalid YAML"),
    ),
    m(
        "m-yaml-tab-indent",
        "yaml syntax",
        replace_line(MANIFEST, 5, "\texpires: 90d"),
        (5, 1, "invalid YAML"),
    ),
    m(
        "m-yaml-bad-indent",
        "yaml syntax",
        replace_line(MANIFEST, 5, "      expires: 90d"),
        (5, 7, "invalid YAML"),
    ),
    m(
        "m-secrets-is-a-mapping",
        "wrong type",
        "scope: acme\nsecrets:\n  name: db-password\n",
        (3, 3, "secrets: must be a list"),
    ),
    m(
        "m-length-is-a-string",
        "wrong type",
        replace_line(MANIFEST, 7, '    value: {generate: {length: "thirty-two"}}'),
        (7, 32, "must be a whole number"),
    ),
    m(
        "m-scope-is-a-number",
        "wrong type",
        replace_line(MANIFEST, 1, "scope: 42"),
        (1, 8, "scope: must be a string"),
    ),
    m(
        "m-value-is-null",
        "wrong type",
        replace_line(MANIFEST, 4, "    value:"),
        (4, 11, "must be a mapping"),
    ),
    m(
        "m-unknown-top-field",
        "unknown field",
        insert_after(MANIFEST, 1, "owner: platform-team"),
        (2, 1, "unknown field 'owner'"),
    ),
    m(
        "m-unknown-entry-field-typo",
        "unknown field",
        replace_line(MANIFEST, 5, "    expiry: 90d"),
        (5, 5, "did you mean 'expires'"),
    ),
    m(
        "m-name-underscore",
        "invalid name",
        replace_line(MANIFEST, 3, "  - name: db_password"),
        (3, 11, "may contain only letters"),
    ),
    m(
        "m-name-with-dot",
        "invalid name",
        replace_line(MANIFEST, 3, "  - name: db.password"),
        (3, 11, "may contain only letters"),
    ),
    m(
        "m-name-too-long",
        "invalid name",
        replace_line(MANIFEST, 3, "  - name: " + "n" * 130),
        (3, 11, "at most 127"),
    ),
    m(
        "m-names-collide-by-case",
        "colliding names",
        insert_after(MANIFEST, 7, "  - name: DB-Password\n    value: {env: REL_DB_PASSWORD}"),
        (8, 5, "collides with 'acme--db-password'"),
    ),
    m(
        "m-duplicate-key",
        "duplicate key",
        insert_after(MANIFEST, 5, "    expires: 30d"),
        (6, 5, "duplicate key 'expires'"),
    ),
    m(
        "m-alias-bomb",
        "alias bomb",
        billion_laughs("description"),
        (1, 38, "aliases expand to more than"),
    ),
    m(
        "m-deep-nesting",
        "alias bomb",
        "scope: acme\nsecrets: " + "[" * 2000 + "]" * 2000 + "\n",
        (2, 10, "nested"),
    ),
    m(
        "m-oversized-file",
        "oversized",
        lambda: (MANIFEST + "# " + "x" * 4_000_100 + "\n").encode(),
        (0, 0, "the limit is 4,000,000"),
    ),
    m(
        "m-oversized-env-value",
        "oversized",
        MANIFEST,
        (4, 18, "Key Vault allows at most 25,600"),
        environ={"REL_DB_PASSWORD": BIG_VALUE},
    ),
    m(
        "m-oversized-literal",
        "oversized",
        insert_after(
            MANIFEST,
            7,
            f"  - name: flags\n    sensitive: false\n    value: {{literal: {BIG_VALUE}}}",
        ),
        (10, 22, "at most 25,600 characters"),
    ),
    m(
        "m-invalid-date",
        "invalid date",
        replace_line(MANIFEST, 5, "    expires: 2026-02-30"),
        (5, 14, "day is out of range for month"),
    ),
    m(
        "m-invalid-date-time",
        "invalid date",
        replace_line(MANIFEST, 5, "    expires: 2026-01-01T25:00:00Z"),
        (5, 14, "hour must be in 0..23"),
    ),
    m(
        "m-invalid-month",
        "invalid date",
        replace_line(MANIFEST, 5, "    expires: 2026-13-01"),
        (5, 14, "invalid value"),
    ),
    m(
        "m-not-utf8-latin1",
        "non-utf8",
        MANIFEST.encode() + b"# caf\xe9\n",
        (8, 1, "not valid UTF-8"),
    ),
    Case(
        "m-not-utf8-value-file",
        "manifest",
        "non-utf8",
        {
            "acme.yaml": replace_line(MANIFEST, 4, "    value: {file: value.bin}"),
            "value.bin": b"\xff\xfe\x00binary",
        },
        (Expect("acme.yaml", 4, 19, "is not UTF-8 text"),),
    ),
    m(
        "m-missing-env-var",
        "missing env var",
        replace_line(MANIFEST, 4, "    value: {env: REL_NOT_SET_ANYWHERE}"),
        (4, 18, "environment variable REL_NOT_SET_ANYWHERE is not set"),
    ),
    m(
        "m-env-var-not-utf8",
        "non-utf8",
        MANIFEST,
        (4, 18, "environment variable REL_DB_PASSWORD is not valid UTF-8"),
        # os.environ keeps undecodable bytes as lone surrogates (PEP 383)
        environ={"REL_DB_PASSWORD": b"caf\xe9-rel-value-91d2".decode("utf-8", "surrogateescape")},
    ),
    m(
        "m-secret-name-trailing-newline",
        "invalid name",
        replace_line(MANIFEST, 3, '  - name: "db-password\\n"'),
        (3, 11, "it starts or ends with whitespace"),
    ),
    m(
        "m-tag-on-mapping",
        "unsafe yaml",
        replace_line(MANIFEST, 4, "    value: !custom {env: REL_DB_PASSWORD}"),
        (4, 12, "YAML tag '!custom' is not allowed here"),
    ),
    m(
        "m-python-tag-on-sequence",
        "unsafe yaml",
        replace_line(MANIFEST, 2, "secrets: !!python/object/apply:os.system"),
        (2, 10, "YAML tag '!!python/object/apply:os.system' is not allowed here"),
    ),
    m(
        "m-missing-value-file",
        "missing file",
        replace_line(MANIFEST, 4, "    value: {file: no-such-file.txt}"),
        (4, 19, "no-such-file.txt"),
    ),
    m(
        "m-file-escapes-repo-relative",
        "path escape",
        replace_line(MANIFEST, 4, "    value: {file: ../../../../../../../../etc/hostname}"),
        (4, 19, "outside"),
    ),
    m(
        "m-file-escapes-repo-absolute",
        "path escape",
        replace_line(MANIFEST, 4, "    value: {file: /etc/hostname}"),
        (4, 19, "outside"),
    ),
    Case(
        "m-file-escapes-by-symlink",
        "manifest",
        "path escape",
        {
            "acme.yaml": replace_line(MANIFEST, 4, "    value: {file: innocent.txt}"),
            "innocent.txt": Symlink("/etc/hostname"),
        },
        (Expect("acme.yaml", 4, 19, "outside"),),
    ),
    m(
        "m-python-object-tag",
        "unsafe yaml",
        replace_line(MANIFEST, 4, '    value: !!python/object/apply:os.system "true"'),
        (4, 12, "could not determine a constructor"),
    ),
]

_GUID = "5b0e2a44-6b1f-4c8e-9d3a-1f2e3d4c5b6a"

ENVIRONMENT_CASES = [
    e(
        "e-yaml-syntax",
        "yaml syntax",
        replace_line(ENVIRONMENT, 2, "  kind: [emulator"),
        (3, 12, "invalid YAML"),
    ),
    e(
        "e-duplicate-key",
        "duplicate key",
        insert_after(ENVIRONMENT, 11, "  purge_protection: false"),
        (12, 3, "duplicate key 'purge_protection'"),
    ),
    e(
        "e-unknown-top-field",
        "unknown field",
        insert_after(ENVIRONMENT, 18, "vaults: []"),
        (19, 1, "unknown field 'vaults' (did you mean 'vault'?)"),
    ),
    e(
        "e-unknown-vault-field",
        "unknown field",
        replace_line(ENVIRONMENT, 11, "  purge_protect: true"),
        (11, 3, "unknown field 'purge_protect' (did you mean 'purge_protection'?)"),
    ),
    e(
        "e-boolean-as-string",
        "wrong type",
        replace_line(ENVIRONMENT, 11, '  purge_protection: "yes"'),
        (11, 21, "purge_protection: must be true or false, not a string"),
    ),
    e(
        "e-retention-below-minimum",
        "wrong type",
        replace_line(ENVIRONMENT, 12, "  soft_delete_retention_days: 3"),
        (12, 31, "soft_delete_retention_days: must be at least 7"),
    ),
    e(
        "e-retention-not-integer",
        "wrong type",
        replace_line(ENVIRONMENT, 12, "  soft_delete_retention_days: ninety"),
        (12, 31, "must be a whole number, not a string"),
    ),
    e(
        "e-access-not-a-list",
        "wrong type",
        replace_line(ENVIRONMENT, 14, "  app-reads: {}").replace(
            "    principal_id: {app}\n    role: Key Vault Secrets User\n", ""
        ),
        (14, 3, "access: must be a list, not a mapping"),
    ),
    e(
        "e-vault-name-double-dash",
        "invalid name",
        replace_line(ENVIRONMENT, 10, "  name: kv--secrets"),
        (10, 9, "vault.name: must be 3-24 letters, digits and hyphens"),
    ),
    e(
        "e-vault-name-too-long",
        "invalid name",
        replace_line(ENVIRONMENT, 10, "  name: kv-" + "a" * 30),
        (10, 9, "vault.name: must be 3-24 letters, digits and hyphens"),
    ),
    e(
        "e-grant-name-uppercase",
        "invalid name",
        replace_line(ENVIRONMENT, 14, "  - name: App_Reads"),
        (14, 11, "access[0].name: must be 1-63 lower-case letters, digits and hyphens"),
    ),
    e(
        "e-grant-names-collide",
        "colliding names",
        insert_after(
            ENVIRONMENT,
            16,
            f"  - name: app-reads\n    principal_id: {_GUID}\n    role: Key Vault Reader",
        ),
        (17, 11, "duplicate grant name 'app-reads'"),
    ),
    e(
        "e-grant-repeated",
        "colliding names",
        insert_after(
            ENVIRONMENT,
            16,
            "  - name: app-reads-again\n    principal_id: {app}\n    role: Key Vault Secrets User",
        ),
        (17, 5, "grants the same role to the same principal"),
    ),
    e(
        "e-tenant-not-a-guid",
        "wrong type",
        replace_line(ENVIRONMENT, 4, "tenant_id: contoso.onmicrosoft.com"),
        (4, 12, "tenant_id: must be a GUID"),
    ),
    e(
        "e-vault-missing",
        "wrong type",
        "\n".join(ENVIRONMENT.splitlines()[:8] + ENVIRONMENT.splitlines()[12:]) + "\n",
        (1, 1, "'vault' is required"),
    ),
    e(
        "e-ip-rule-out-of-range",
        "wrong type",
        insert_after(ENVIRONMENT, 12, "  network_acls:\n    ip_rules: [300.1.2.3/8]"),
        (14, 16, "ip_rules[0]"),
    ),
    e(
        "e-location-with-space",
        "wrong type",
        replace_line(ENVIRONMENT, 8, "  location: West Europe"),
        (8, 13, "must be an Azure region name"),
    ),
    e(
        "e-wait-negative",
        "wrong type",
        insert_after(ENVIRONMENT, 18, "provisioning:\n  principal_wait_s: -1"),
        (20, 21, "principal_wait_s: must be at least 0"),
    ),
    e(
        "e-too-many-tags",
        "oversized",
        insert_after(
            ENVIRONMENT,
            12,
            "  tags: {" + ", ".join(f"t{i}: v" for i in range(16)) + "}",
        ),
        (13, 9, "vault.tags: at most 15 entries"),
    ),
    e(
        "e-azure-with-state-dir",
        "wrong type",
        replace_line(ENVIRONMENT, 2, "  kind: azure"),
        (2, 3, "target: "),
    ),
    e(
        "e-alias-bomb",
        "alias bomb",
        ENVIRONMENT + billion_laughs("bomb"),
        (19, 38, "aliases expand to more than"),
    ),
    e(
        "e-deep-nesting",
        "alias bomb",
        ENVIRONMENT + "nested: " + "{a: " * 2000 + "1" + "}" * 2000 + "\n",
        (19, 9, "nested"),
    ),
    e(
        "e-oversized-file",
        "oversized",
        lambda: (ENVIRONMENT + "#" * 4_000_001 + "\n").encode(),
        (0, 0, "the limit is 4,000,000"),
    ),
    e(
        "e-not-utf8",
        "non-utf8",
        ENVIRONMENT.replace("westeurope", "west\xe9urope").encode("latin-1"),
        (8, 1, "not valid UTF-8"),
    ),
    e(
        "e-empty",
        "wrong type",
        "# nothing here\n",
        (1, 1, "the environment file is empty"),
    ),
    e(
        "e-missing-file",
        "missing file",
        "",
        (0, 0, "file not found"),
        missing_env_file=True,
    ),
    e(
        "e-merge-key",
        "unsafe yaml",
        insert_after(ENVIRONMENT, 12, "  <<: {sku: premium}"),
        (13, 3, "merge keys"),
    ),
    e(
        "e-python-tag",
        "unsafe yaml",
        replace_line(ENVIRONMENT, 10, "  name: !!python/name:os.system"),
        (10, 9, "invalid value"),
    ),
    e(
        "e-tag-on-mapping",
        "unsafe yaml",
        replace_line(ENVIRONMENT, 9, "vault: !custom"),
        (9, 8, "YAML tag '!custom' is not allowed here"),
    ),
    e(
        "e-vault-name-trailing-newline",
        "invalid name",
        replace_line(ENVIRONMENT, 10, '  name: "{vault}\\n"'),
        (10, 9, "it starts or ends with whitespace"),
    ),
    e(
        "e-subscription-trailing-newline",
        "invalid name",
        replace_line(ENVIRONMENT, 5, 'subscription_id: "{subscription}\\n"'),
        (5, 18, "it starts or ends with whitespace"),
    ),
    e(
        "e-principal-trailing-space",
        "invalid name",
        replace_line(ENVIRONMENT, 15, '    principal_id: "{app} "'),
        (15, 19, "it starts or ends with whitespace"),
    ),
    e(
        "e-placeholder-ids",
        "placeholder",
        replace_line(ENVIRONMENT, 4, "tenant_id: 00000000-0000-0000-0000-000000000000"),
        (4, 12, "tenant_id: still the example's placeholder id"),
    ),
    e(
        "e-misspelt-role",
        "unknown role",
        replace_line(ENVIRONMENT, 16, "    role: Key Vault Secret User"),
        (16, 11, "did you mean 'Key Vault Secrets User'?"),
    ),
    e(
        "e-manifests-escape-repo",
        "path escape",
        insert_after(ENVIRONMENT, 18, "  manifests: ../../../../../../etc"),
        (19, 14, "outside"),
    ),
]

CASES = MANIFEST_CASES + ENVIRONMENT_CASES
