// Check a keyward API key from a Go service, with the standard library only.
//
// Call VerifyKey before serving each request and serve it only if the answer's Valid is
// true. When keyward cannot answer (down, timed out, an error status, an answer that is not
// keyward's), VerifyKey returns an error: refuse the request then (503), never let it
// through.
//
// Run as a program, it reads one key from standard input and prints VALID or the refusal:
//
//	echo "$KEY" | KEYWARD_URL=http://127.0.0.1:8080 KEYWARD_ROOT_KEY=kwroot_... \
//	  go run verify.go invoices:read
//	# exit 0: VALID <key name>   1: REFUSED <code>   2: UNAVAILABLE <reason>
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"
)

// VerifyRequest is the body of POST /v1/verify; empty fields are left out.
type VerifyRequest struct {
	Key        string `json:"key"`
	Permission string `json:"permission,omitempty"`
	IP         string `json:"ip,omitempty"`
	Origin     string `json:"origin,omitempty"`
	Action     string `json:"action,omitempty"`
	Resource   string `json:"resource,omitempty"`
}

// VerifyResponse is keyward's answer; the key's details are present for a known key.
type VerifyResponse struct {
	Valid       *bool          `json:"valid"`
	Code        string         `json:"code"`
	KeyID       string         `json:"key_id"`
	Name        string         `json:"name"`
	OwnerID     string         `json:"owner_id"`
	Permissions []string       `json:"permissions"`
	Metadata    map[string]any `json:"metadata"`
}

// UnavailableError means keyward gave no verify answer: refuse the request (fail closed).
type UnavailableError struct{ Reason string }

func (e *UnavailableError) Error() string { return "keyward unavailable: " + e.Reason }

func unavailable(reason string) error { return &UnavailableError{Reason: reason} }

var client = &http.Client{
	Timeout: 2 * time.Second,
	// A redirect would carry the root key to another address: treat it as an error.
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// VerifyKey asks keyward about request.Key, presenting a root key with the keys:verify right.
func VerifyKey(keywardURL, rootKey string, request VerifyRequest) (*VerifyResponse, error) {
	body, err := json.Marshal(request)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, strings.TrimRight(keywardURL, "/")+"/v1/verify", bytes.NewReader(body))
	if err != nil {
		return nil, unavailable("bad URL")
	}
	req.Header.Set("Authorization", "Bearer "+rootKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		// The error names the URL only; it never holds the root key or the key.
		return nil, unavailable("no answer")
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, unavailable(fmt.Sprintf("keyward answered %d", resp.StatusCode))
	}
	var answer VerifyResponse
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil || answer.Valid == nil {
		return nil, unavailable("not a verify answer")
	}
	return &answer, nil
}

func main() {
	line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	request := VerifyRequest{Key: strings.TrimSpace(line), Action: "recipe", Resource: "verify.go"}
	if len(os.Args) > 1 {
		request.Permission = os.Args[1]
	}
	url := os.Getenv("KEYWARD_URL")
	if url == "" {
		url = "http://127.0.0.1:8080"
	}
	answer, err := VerifyKey(url, os.Getenv("KEYWARD_ROOT_KEY"), request)
	var down *UnavailableError
	if errors.As(err, &down) {
		fmt.Println("UNAVAILABLE", down.Reason)
		os.Exit(2)
	} else if err != nil {
		fmt.Println("UNAVAILABLE", err)
		os.Exit(2)
	}
	if *answer.Valid {
		fmt.Println("VALID", answer.Name)
		return
	}
	// 401 for NOT_FOUND, REVOKED, EXPIRED, DISABLED; 403 for INSUFFICIENT_PERMISSIONS and
	// FORBIDDEN; 429 for RATE_LIMITED and USAGE_EXCEEDED.
	fmt.Println("REFUSED", answer.Code)
	os.Exit(1)
}
