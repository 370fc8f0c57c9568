package main

import "fmt"

// A target is one of the goals the report checks; measured is empty when
// the run did not include what it needs.
type target struct {
	goal, measured string
	met            bool
}

func (r *report) targets(p func(string, ...any)) {
	var ts []target
	add := func(goal string, ok bool, met bool, measured string) {
		if !ok {
			measured = ""
		}
		ts = append(ts, target{goal, measured, met})
	}
	ratio := func(id, a, b string) (float64, bool) {
		if r.starts == nil {
			return 0, false
		}
		x, y := r.starts.of(id, a), r.starts.of(id, b)
		if x == nil || y == nil {
			return 0, false
		}
		return pairedRatio(x, y), true
	}
	across := func(a, b string) (float64, bool) {
		if r.starts == nil {
			return 0, false
		}
		x, y := r.starts.of(a, "prestart"), r.starts.of(b, "prestart")
		if x == nil || y == nil {
			return 0, false
		}
		return pairedRatio(x, y), true
	}

	v, ok := ratio("kv1", "prestart", "bare client")
	add("1 KV secret: prestart ≤ 1.25x the bare client", ok, v <= 1.25, fmt.Sprintf("%.2fx", v))
	v, ok = ratio("kv1", "vault agent", "prestart")
	add("1 KV secret: prestart ≥ 100x faster than Vault Agent (exec mode)", ok, v >= 100, fmt.Sprintf("%.1fx faster", v))
	v, ok = ratio("kv1", "shell", "prestart")
	add("1 KV secret: prestart ≥ 8x faster than the shell way", ok, v >= 8, fmt.Sprintf("%.1fx faster", v))
	v, ok = ratio("kv1-wrapped", "prestart", "bare client")
	add("wrapped secret ID: prestart ≤ 1.25x its bare client", ok, v <= 1.25, fmt.Sprintf("%.2fx", v))
	v, ok = across("kv20", "kv1")
	add("20 secrets on 20 paths ≤ 1.6x one secret (prestart, same rounds)", ok, v <= 1.6, fmt.Sprintf("%.2fx", v))
	v, ok = across("s3-env200", "s3-env1")
	req, counted := r.counts["s3-env200"]["prestart"]
	gets, decrypts := req.count("GetObject"), req.count("kms:Decrypt")
	one := counted && gets == 1 && decrypts == 1 && req.total() == 2
	add("S3 envelope, 200 variables ≤ 1.1x one variable, with 1 GET and 1 Decrypt", ok && counted, v <= 1.1 && one,
		fmt.Sprintf("%.2fx; %d GetObject, %d Decrypt, %d requests", v, gets, decrypts, req.total()))
	v, ok = 0, r.startup != nil
	if ok {
		v = r.startupRatio()
	}
	add("prestart -version ≤ 2x an empty Go program", ok, v <= 2, fmt.Sprintf("%.2fx", v))
	var m32 *mintResult
	for _, m := range r.mint {
		if m.launchers == 32 {
			m32 = m
		}
	}
	if m32 != nil {
		add("issuer mint, 32 concurrent launchers ≥ 0.9x the bare client's throughput", true, m32.ratio >= 0.9, fmt.Sprintf("%.2fx", m32.ratio))
	} else {
		add("issuer mint, 32 concurrent launchers ≥ 0.9x the bare client's throughput", false, false, "")
	}

	p("## Targets\n\n| target | measured | met |\n|---|---|---|\n")
	for _, t := range ts {
		switch {
		case t.measured == "":
			p("| %s | not run | |\n", t.goal)
		case t.met:
			p("| %s | %s | yes |\n", t.goal, t.measured)
		default:
			p("| %s | %s | **no** |\n", t.goal, t.measured)
		}
	}
	p("\n")

	// The floor is what the official client costs before any of keyturn's
	// code runs: a target below it cannot be met while prestart and issuer
	// link vault/api.
	var floor []string
	if r.startup != nil {
		floor = append(floor, fmt.Sprintf("vault/api alone / empty program: %.2fx", r.apiOnlyRatio()))
	}
	if v, ok := ratio("kv1", bareAPI, "bare client"); ok {
		floor = append(floor, fmt.Sprintf("%s / bare client (kv1): %.2fx", bareAPI, v))
	}
	if m32 != nil {
		floor = append(floor, fmt.Sprintf("%s mints/s / bare client (32 launchers): %.2fx", bareAPI, m32.floor))
	}
	if len(floor) > 0 {
		p("Floor, from the same run (see the method):\n\n")
		for _, f := range floor {
			p("- %s\n", f)
		}
		p("\n")
	}
}
