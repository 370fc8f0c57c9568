# One config for every node of the blueprint's cluster. Each node's name and
# addresses come from its environment (VAULT_RAFT_NODE_ID, VAULT_API_ADDR,
# VAULT_CLUSTER_ADDR) and its certificate from its own /vault/tls mount.
storage "raft" {
  path = "/vault/data"

  # Every node lists every node; a node never joins itself.
  retry_join {
    leader_api_addr     = "https://vault-1:8200"
    leader_ca_cert_file = "/vault/tls/ca.pem"
  }
  retry_join {
    leader_api_addr     = "https://vault-2:8200"
    leader_ca_cert_file = "/vault/tls/ca.pem"
  }
  retry_join {
    leader_api_addr     = "https://vault-3:8200"
    leader_ca_cert_file = "/vault/tls/ca.pem"
  }
}

listener "tcp" {
  address         = "0.0.0.0:8200"
  cluster_address = "0.0.0.0:8201"
  tls_cert_file   = "/vault/tls/server.pem"
  tls_key_file    = "/vault/tls/server-key.pem"
}

# The images run without IPC_LOCK; use an encrypted swap or none.
disable_mlock = true
ui            = false
