storage "raft" {
  path    = "/vault/data"
  node_id = "vault-1"
}

listener "tcp" {
  address       = "0.0.0.0:8200"
  tls_cert_file = "/vault/tls/server.pem"
  tls_key_file  = "/vault/tls/server-key.pem"
}

api_addr     = "https://vault:8200"
cluster_addr = "https://vault:8201"
ui           = false
