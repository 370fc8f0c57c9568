package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/keyturn/keyturn/internal/unseal"
)

func state(st unseal.NodeStatus) string {
	switch {
	case !st.Reachable:
		return "unreachable"
	case !st.Sealed:
		return "unsealed"
	case !st.Initialized:
		return "uninitialized"
	}
	return "sealed"
}

func progress(st unseal.NodeStatus) string {
	if !st.Reachable || !st.Sealed || st.Threshold == 0 {
		return "-"
	}
	return fmt.Sprintf("%d/%d", st.Progress, st.Threshold)
}

func keys(st unseal.NodeStatus) string {
	if st.Threshold == 0 {
		return "-"
	}
	return fmt.Sprintf("%d of %d", st.Threshold, st.Shares)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printStatus prints the dashboard table.
func printStatus(w io.Writer, sts []unseal.NodeStatus) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSTATE\tPROGRESS\tTHRESHOLD\tVERSION\tHA\tLEADER\tNOTE")
	for _, st := range sts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", st.Address, state(st), progress(st), keys(st),
			dash(st.Version), dash(st.HARole), dash(st.Leader), dash(st.Error))
	}
	tw.Flush()
}

// result describes what a key turn did for one node.
func result(r unseal.NodeResult) string {
	switch r.Outcome {
	case unseal.Unsealed:
		switch {
		case r.Completed:
			return "unsealed by this share"
		case r.Submitted > 0:
			return "share accepted; unsealed by another key holder"
		}
		return "already unsealed"
	case unseal.Accepted:
		more := r.Status.Threshold - r.Status.Progress
		return fmt.Sprintf("share accepted; waiting for %d more key holder(s)", more)
	}
	msg := string(r.Outcome)
	if r.Err != nil {
		msg += ": " + r.Err.Error()
	}
	return msg
}

func printTurn(w io.Writer, rs []unseal.NodeResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSTATE\tPROGRESS\tTHRESHOLD\tVERSION\tHA\tRESULT")
	for _, r := range rs {
		st := r.Status
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", st.Address, state(st), progress(st), keys(st),
			dash(st.Version), dash(st.HARole), result(r))
	}
	tw.Flush()
}

type turnJSON struct {
	unseal.NodeResult
	Result string `json:"result"`
	Error  string `json:"error,omitempty"`
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
