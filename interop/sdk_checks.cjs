// The JavaScript SDK against the emulator: Resource Manager and the data plane.
//
// Run by interop/run.py with the environment of the emulator's `deployer`
// identity (IDENTITY_ENDPOINT / IDENTITY_HEADER: App Service's managed
// identity protocol), NODE_EXTRA_CA_CERTS naming the emulator's CA and
// NODE_PATH naming the npm cache. Prints one JSON line per check:
// {"check": "...", "problem": null | "..."}. Never prints a secret value.
"use strict";

const crypto = require("node:crypto");
const { ManagedIdentityCredential } = require("@azure/identity");
const { SecretClient } = require("@azure/keyvault-secrets");
const { KeyVaultManagementClient } = require("@azure/arm-keyvault");
const { AuthorizationManagementClient } = require("@azure/arm-authorization");
const { ResourceManagementClient } = require("@azure/arm-resources");

const ARM_URL = process.env.KEYVAULT_EMULATOR_ARM_URL;
const SUBSCRIPTION = process.env.AZURE_SUBSCRIPTION_ID;
const TENANT = process.env.AZURE_TENANT_ID;
const SYNC_OBJECT_ID = process.env.INTEROP_SYNC_OBJECT_ID;
const SECRETS_OFFICER = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7";
const ARM_SCOPE = "https://management.azure.com/.default";
// Both spellings: newer generated clients read `credentials.scopes`, older ones
// `credentialScopes`; without them the scope would be the emulator's own URL.
const ARM_OPTIONS = {
  endpoint: ARM_URL,
  credentials: { scopes: [ARM_SCOPE] },
  credentialScopes: [ARM_SCOPE],
};

const credential = new ManagedIdentityCredential();
const keyvault = new KeyVaultManagementClient(credential, SUBSCRIPTION, ARM_OPTIONS);
const authorization = new AuthorizationManagementClient(credential, SUBSCRIPTION, ARM_OPTIONS);
const resources = new ResourceManagementClient(credential, SUBSCRIPTION, ARM_OPTIONS);

function report(check, problem) {
  process.stdout.write(JSON.stringify({ check, problem: problem ?? null }) + "\n");
}

async function check(name, test) {
  try {
    report(name, await test());
  } catch (error) {
    const code = error && (error.code || error.statusCode);
    report(name, `${error && error.name}${code ? ` (${code})` : ""}: ${error && error.message}`);
  }
}

async function all(iterator) {
  const items = [];
  for await (const item of iterator) items.push(item);
  return items;
}

async function main() {
  const group = `rg-js-${crypto.randomBytes(3).toString("hex")}`;
  const vaultName = `kvjs${crypto.randomBytes(5).toString("hex")}`;
  const state = {};

  await check("resource group create", async () => {
    await resources.resourceGroups.createOrUpdate(group, { location: "westeurope" });
  });
  await check("vault create (poller)", async () => {
    // A long-running operation: the poller finishes on the emulator's first answer.
    const vault = await keyvault.vaults.createOrUpdate(group, vaultName, {
      location: "westeurope",
      properties: {
        tenantId: TENANT,
        sku: { family: "A", name: "standard" },
        enableRbacAuthorization: true,
        enableSoftDelete: true,
        softDeleteRetentionInDays: 7,
      },
    });
    state.vault = vault;
    if (vault.properties.provisioningState !== "Succeeded") return "not Succeeded";
  });
  if (!state.vault) return;
  await check("vault get", async () => {
    const vault = await keyvault.vaults.get(group, vaultName);
    if (vault.id !== state.vault.id) return `got ${vault.id}`;
  });
  await check("vault list (resources $filter)", async () => {
    const names = (await all(keyvault.vaults.list())).map((v) => v.name);
    if (!names.includes(vaultName)) return `listed ${names}`;
  });
  await check("vault list by subscription", async () => {
    const names = (await all(keyvault.vaults.listBySubscription())).map((v) => v.name);
    if (!names.includes(vaultName)) return `listed ${names}`;
  });
  await check("deleted vaults and managed HSMs list", async () => {
    await all(keyvault.vaults.listDeleted());
    const hsms = await all(keyvault.managedHsms.listBySubscription());
    const deleted = await all(keyvault.managedHsms.listDeleted());
    if (hsms.length || deleted.length) return "managed HSMs listed";
  });
  await check("resources list by resource group", async () => {
    const ids = (await all(resources.resources.listByResourceGroup(group))).map((r) => r.id);
    if (ids.length !== 1 || ids[0] !== state.vault.id) return `listed ${ids}`;
  });
  await check("provider Microsoft.KeyVault registered", async () => {
    const provider = await resources.providers.get("Microsoft.KeyVault");
    if (provider.registrationState !== "Registered") return provider.registrationState;
  });
  await check("role assignment create", async () => {
    await authorization.roleAssignments.create(state.vault.id, crypto.randomUUID(), {
      roleDefinitionId: `/subscriptions/${SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/${SECRETS_OFFICER}`,
      principalId: SYNC_OBJECT_ID,
      principalType: "ServicePrincipal",
    });
  });
  await check("role assignment list for scope", async () => {
    const listed = await all(
      authorization.roleAssignments.listForScope(state.vault.id, {
        filter: `assignedTo('${SYNC_OBJECT_ID}')`,
      }),
    );
    if (listed.length !== 1) return `${listed.length} assignments`;
  });
  await check("role assignment create for the deployer", async () => {
    const me = process.env.INTEROP_DEPLOYER_OBJECT_ID;
    await authorization.roleAssignments.create(state.vault.id, crypto.randomUUID(), {
      roleDefinitionId: `/subscriptions/${SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/${SECRETS_OFFICER}`,
      principalId: me,
      principalType: "ServicePrincipal",
    });
  });
  await dataPlane(state.vault.properties.vaultUri);
}

async function dataPlane(vaultUri) {
  const client = new SecretClient(vaultUri, credential, {
    disableChallengeResourceVerification: true,
  });
  const name = "js-secret";
  const first = crypto.randomBytes(16).toString("hex");
  const second = crypto.randomBytes(16).toString("hex");
  await check("secret set (two versions)", async () => {
    await client.setSecret(name, first);
    await client.setSecret(name, second);
  });
  await check("secret get", async () => {
    const secret = await client.getSecret(name);
    if (secret.value !== second) return "the value read differs from the one set";
  });
  await check("secret list", async () => {
    const names = (await all(client.listPropertiesOfSecrets())).map((s) => s.name);
    if (!names.includes(name)) return `listed ${names}`;
  });
  await check("secret versions", async () => {
    const versions = await all(client.listPropertiesOfSecretVersions(name));
    if (versions.length !== 2) return `${versions.length} versions`;
  });
  await check("secret versions of a name that never existed (200, empty)", async () => {
    const versions = await all(client.listPropertiesOfSecretVersions("never-existed"));
    if (versions.length !== 0) return `${versions.length} versions`;
  });
  await check("secret delete (poller) + list deleted", async () => {
    const poller = await client.beginDeleteSecret(name, { intervalInMs: 200 });
    await poller.pollUntilDone();
    const names = (await all(client.listDeletedSecrets())).map((s) => s.name);
    if (!names.includes(name)) return `deleted list is ${names}`;
  });
  await check("secret recover (poller)", async () => {
    const poller = await client.beginRecoverDeletedSecret(name, { intervalInMs: 200 });
    await poller.pollUntilDone();
    const secret = await client.getSecret(name);
    if (secret.value !== second) return "the recovered value differs";
  });
}

main().catch((error) => {
  process.stderr.write(`sdk_checks.cjs: ${error && error.stack}\n`);
  process.exit(1);
});
