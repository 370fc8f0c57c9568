# Roles the container tests add to examples/approle.hcl: "fast" has a token
# TTL short enough to watch renewals and partitions within a test; "web"
# issues each container a certificate for its own DNS name.
mount = "approle"

policy "fast-read" {
  text = <<-EOT
    path "secret/data/app/*" {
      capabilities = ["read"]
    }
    path "secret/metadata/app/*" {
      capabilities = ["read"]
    }
  EOT
}

policy "web-pki" {
  text = <<-EOT
    path "pki/issue/web" {
      capabilities = ["update"]
    }
  EOT
}

role "fast" {
  token_policies = ["fast-read"]
  token_ttl      = "12s"
  token_max_ttl  = "30m"
}

role "web" {
  token_policies = ["web-pki"]
}

launcher "tests" {
  roles  = ["fast", "web"]
  revoke = true
}
