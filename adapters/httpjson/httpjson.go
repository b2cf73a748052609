// Package httpjson writes the hub's JSON responses, so that every HTTP
// adapter answers errors in one shape: {"error": {"code", "message"}}.
package httpjson

import (
	"encoding/json"
	"io"
	"net/http"
)

// ErrorBody is the body of every error response.
type ErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// Error writes an error response.
func Error(w http.ResponseWriter, status int, code, msg string) {
	var e ErrorBody
	e.Error.Code, e.Error.Message = code, msg
	Write(w, status, e)
}

// Write writes v as JSON. Responses about children are never cached.
func Write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	Encode(w, v)
}

// Encode writes v as Write does: what an answer's replay must reproduce
// byte for byte.
func Encode(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}
