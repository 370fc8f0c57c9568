package kmstest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Handler serves the AWS KMS JSON 1.1 protocol. Create it with NewHandler.
type Handler struct {
	region, account string
	logf            func(format string, args ...any)
	now             func() time.Time

	mu      sync.Mutex
	keys    map[string]*key   // by key ID
	order   []string          // key IDs in creation order
	aliases map[string]*alias // by alias name, "alias/NAME"
	calls   map[string]int    // by operation
}

// Option configures a Handler.
type Option func(*Handler)

// WithRegion sets the region in ARNs (default us-east-1). Requests signed
// for another region are refused, as AWS does.
func WithRegion(region string) Option { return func(h *Handler) { h.region = region } }

// WithAccount sets the 12-digit account ID in ARNs (default 111122223333).
func WithAccount(account string) Option { return func(h *Handler) { h.account = account } }

// WithLogf logs one line per request: operation, caller, key and outcome.
// Plaintexts, data keys and blobs are never logged.
func WithLogf(logf func(format string, args ...any)) Option {
	return func(h *Handler) { h.logf = logf }
}

// NewHandler returns a handler with no keys; add them with CreateKey.
func NewHandler(opts ...Option) *Handler {
	h := &Handler{
		region:  "us-east-1",
		account: "111122223333",
		now:     time.Now,
		keys:    map[string]*key{},
		aliases: map[string]*alias{},
		calls:   map[string]int{},
	}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Region returns the region the handler serves.
func (h *Handler) Region() string { return h.region }

// Account returns the account ID in the handler's ARNs.
func (h *Handler) Account() string { return h.account }

// Calls returns how many requests named op (e.g. "Decrypt") were received,
// successful or not.
func (h *Handler) Calls(op string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls[op]
}

// AllCalls returns the request counts by operation.
func (h *Handler) AllCalls() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return maps.Clone(h.calls)
}

// TotalCalls returns the number of requests received.
func (h *Handler) TotalCalls() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, c := range h.calls {
		n += c
	}
	return n
}

// ResetCalls sets all counters to zero.
func (h *Handler) ResetCalls() {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.calls)
}

// apiError is an error response as KMS shapes it.
type apiError struct {
	Type    string `json:"__type"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return e.Type + ": " + e.Message }

func notFound(format string, args ...any) *apiError {
	return &apiError{"NotFoundException", fmt.Sprintf(format, args...)}
}

func validation(format string, args ...any) *apiError {
	return &apiError{"ValidationException", fmt.Sprintf(format, args...)}
}

// request is what an operation sees of the HTTP request.
type request struct {
	caller string // access key ID from the SigV4 credential
	body   []byte
	keyARN string // set by the operation, for the log line
}

func (r *request) decode(v any) error {
	if len(r.body) == 0 {
		return nil
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		return &apiError{"SerializationException", "cannot parse the request body as JSON: " + err.Error()}
	}
	return nil
}

type operation func(h *Handler, r *request) (any, error)

var operations = map[string]operation{
	"Encrypt":         (*Handler).encrypt,
	"Decrypt":         (*Handler).decrypt,
	"GenerateDataKey": (*Handler).generateDataKey,
	"DescribeKey":     (*Handler).describeKey,
	"ListAliases":     (*Handler).listAliases,
	"CreateKey":       (*Handler).createKey,
	"CreateAlias":     (*Handler).createAlias,
	"UpdateAlias":     (*Handler).updateAlias,
}

const maxBody = 1 << 20

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Amzn-Requestid", newUUID())
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "TrentService.")
	if r.Method != http.MethodPost || r.URL.Path != "/" || !ok || op == "" {
		writeError(w, &apiError{"UnknownOperationException", "expected POST / with X-Amz-Target: TrentService.<Operation>"})
		return
	}
	h.mu.Lock()
	h.calls[op]++
	h.mu.Unlock()

	req := &request{}
	resp, err := h.serve(r, op, req)
	if err != nil {
		h.log(op, req, err.Error())
		writeError(w, err)
		return
	}
	h.log(op, req, "ok")
	b, err := json.Marshal(resp)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Write(b)
}

func (h *Handler) serve(r *http.Request, op string, req *request) (any, error) {
	fn, ok := operations[op]
	if !ok {
		return nil, &apiError{"UnknownOperationException", "operation " + op + " is not supported by this KMS test server"}
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		return nil, &apiError{"SerializationException", "Content-Type must be application/x-amz-json-1.1, not " + ct}
	}
	caller, region, err := credential(r.Header.Get("Authorization"))
	if err != nil {
		return nil, err
	}
	if region != h.region {
		return nil, &apiError{"InvalidSignatureException", fmt.Sprintf("Credential should be scoped to a valid region, not '%s'", region)}
	}
	req.caller = caller
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		return nil, &apiError{"SerializationException", "cannot read the request body: " + err.Error()}
	}
	req.body = body
	return fn(h, req)
}

// credential extracts the access key ID and the region from a SigV4
// Authorization header:
//
//	AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/kms/aws4_request, SignedHeaders=..., Signature=...
//
// The signature is not verified.
func credential(auth string) (accessKeyID, region string, err error) {
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return "", "", &apiError{"MissingAuthenticationTokenException", "Missing Authentication Token (want a SigV4 Authorization header)"}
	}
	for part := range strings.SplitSeq(rest, ",") {
		v, ok := strings.CutPrefix(strings.TrimSpace(part), "Credential=")
		if !ok {
			continue
		}
		f := strings.Split(v, "/")
		if len(f) != 5 || f[0] == "" || f[3] != "kms" || f[4] != "aws4_request" {
			break
		}
		return f[0], f[2], nil
	}
	return "", "", &apiError{"IncompleteSignatureException", "Authorization header lacks a valid Credential=AKID/DATE/REGION/kms/aws4_request"}
}

func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	status := http.StatusBadRequest
	if !errors.As(err, &ae) {
		ae = &apiError{"KMSInternalException", "internal error"}
		status = http.StatusInternalServerError
	}
	b, _ := json.Marshal(ae)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	w.Write(b)
}

func (h *Handler) log(op string, r *request, outcome string) {
	if h.logf == nil {
		return
	}
	k := r.keyARN
	if k == "" {
		k = "-"
	}
	caller := r.caller
	if caller == "" {
		caller = "-"
	}
	h.logf("%s caller=%s key=%s: %s", op, caller, k, outcome)
}
