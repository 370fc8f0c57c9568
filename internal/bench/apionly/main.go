// Command apionly links the official Vault client and does nothing else.
// The benchmark times its start against an empty Go program: the
// difference is what vault/api's package initialisation (its regular
// expressions, its dependencies') costs every program that links it, the
// floor under prestart -version. It is built from this module so that it
// links the vault/api version prestart does.
package main

import _ "github.com/hashicorp/vault/api"

func main() {}
