# The app's secret contract, shipped in its image (prestart -spec).
secret "DB_PASSWORD" {
  from = "vault://secret/app/db#password"
}

secrets "vault://secret/app/config" {
  prefix = "APP"
}
