# keyturn bootstrap file: the AppRole mount, the policies, the roles and the
# launchers that may mint one-time secret IDs for them.
#
#   issuer bootstrap -config examples/approle.hcl -dry-run   # show the plan
#   issuer bootstrap -config examples/approle.hcl            # apply it
#
# Applying twice changes nothing the second time. Removing a line from a role
# resets that field to its default on the next apply.

mount = "approle"

# What the application may read once it has logged in.
policy "app-read" {
  text = <<-EOT
    path "secret/data/app/*" {
      capabilities = ["read"]
    }
    path "secret/metadata/app/*" {
      capabilities = ["read"]
    }
  EOT
}

# One role per application. Defaults: secret_id_num_uses = 1,
# secret_id_ttl = "10m", token_ttl = "1h", token_max_ttl = "24h", and
# token_no_default_policy = true: tokens get the generated keyturn-token
# policy (manage themselves and their leases) instead of Vault's default
# policy, which Vault re-evaluates on every request.
role "app" {
  token_policies = ["app-read"]
  secret_id_ttl  = "10m"
  token_ttl      = "1h"
  token_max_ttl  = "24h"
}

# The CI job that starts containers. Its generated policy
# (keyturn-launcher-ci) allows minting secret IDs for "app" and reading its
# role ID, nothing else; revoke = true adds listing and destroying secret IDs
# by accessor. Create its token with:
#   vault token create -role=keyturn-launcher-ci
launcher "ci" {
  roles  = ["app"]
  revoke = true
}
