"""The condition language on its own (pure logic: parse and evaluate, no HTTP)."""

from __future__ import annotations

import pytest

from keyvault_emulator.authorization.conditions import (
    REQUEST_ROLE_DEFINITION,
    SECRET_NAME,
    ConditionSyntaxError,
    condition_allows,
    parse_condition,
)

USER = "4633458b-17de-408a-b874-0445c86b69e6"
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
WRITE = "Microsoft.Authorization/roleAssignments/write"
GET = "Microsoft.KeyVault/vaults/secrets/getSecret/action"


@pytest.mark.parametrize(
    "text, action, attributes, expected",
    [
        (
            f"@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] "
            f"ForAnyOfAnyValues:GuidEquals {{{USER}}}",
            WRITE,
            {REQUEST_ROLE_DEFINITION: (USER.upper(),)},
            True,
        ),
        (
            f"@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] "
            f"ForAnyOfAllValues:GuidNotEquals {{{OWNER}, {USER}}}",
            WRITE,
            {REQUEST_ROLE_DEFINITION: (OWNER,)},
            False,
        ),
        (
            "@Resource[Microsoft.KeyVault/vaults/secrets:name] stringEquals 'a'",
            GET,
            {SECRET_NAME: ("a",)},
            True,
        ),
        (
            "@Resource[Microsoft.KeyVault/vaults/secrets:name] StringEquals 'a'",
            GET,
            {SECRET_NAME: ("A",)},
            False,
        ),
        (
            "@Resource[Microsoft.KeyVault/vaults/secrets:name] StringEqualsIgnoreCase 'a'",
            GET,
            {SECRET_NAME: ("A",)},
            True,
        ),
        ("@Resource[Microsoft.KeyVault/vaults/secrets:name] StringNotEquals 'a'", GET, {}, False),
        (
            "@Resource[Microsoft.KeyVault/vaults/secrets:name] StringLike 'app-*'",
            GET,
            {SECRET_NAME: ("app-db",)},
            True,
        ),
        (
            "NOT ActionMatches{'Microsoft.KeyVault/vaults/secrets/*'} || "
            "@Resource[Microsoft.KeyVault/vaults/secrets:name] StringStartsWith 'x' && "
            "Exists @Resource[Microsoft.KeyVault/vaults/secrets:name]",
            GET,
            {SECRET_NAME: ("xy",)},
            True,
        ),
        # Parses, but the emulator cannot evaluate it: fails closed, even where the
        # targeted action does not match.
        (
            "(!(ActionMatches{'a/b'} AND SubOperationMatches{'c'})) OR "
            "(@Resource[Microsoft.KeyVault/vaults/secrets:name] StringEquals 'x')",
            GET,
            {},
            False,
        ),
        ("@Environment[UtcNow] DateTimeGreaterThan '2020-01-01T00:00:00.0Z'", GET, {}, False),
    ],
)
def test_evaluation(text, action, attributes, expected):
    assert condition_allows(text, action, attributes) is expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "(",
        "a b c",
        "@Bogus[x:y] StringEquals 'a'",
        "@Resource[x:y] StringEquals {'a', 'b'}",  # a set needs a quantifier
        "@Resource[x:y] ForSomeValues:StringEquals {'a'}",
        "ActionMatches{x}",
        "@Resource[x:y] StringEquals 'a' OR",
    ],
)
def test_syntax_errors(text):
    with pytest.raises(ConditionSyntaxError):
        parse_condition(text)
    assert condition_allows(text, GET, {}) is False
