// Command oracle runs kubectl's own three-way merge code on test vectors.
//
// It reads one JSON request per line on stdin:
//   {"spec": "<openapi v3 file>", "group": "apps", "version": "v1", "kind": "Deployment",
//    "original": {...}|null, "modified": {...}, "current": {...}, "json": false}
// and writes one JSON line: {"patch": {...}, "applied": {...}} or {"error": "..."}.
// The strategic path uses strategicpatch.PatchMetaFromOpenAPIV3 exactly as
// kubectl apply does; "json": true uses CreateThreeWayJSONMergePatch.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	"k8s.io/apimachinery/pkg/util/jsonmergepatch"
	"k8s.io/apimachinery/pkg/util/mergepatch"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/kube-openapi/pkg/spec3"
)

type request struct {
	Spec     string          `json:"spec"`
	Group    string          `json:"group"`
	Version  string          `json:"version"`
	Kind     string          `json:"kind"`
	Original json.RawMessage `json:"original"`
	Modified json.RawMessage `json:"modified"`
	Current  json.RawMessage `json:"current"`
	JSON     bool            `json:"json"`
}

var specs = map[string]*spec3.OpenAPI{}

func lookup(req request) (strategicpatch.LookupPatchMeta, error) {
	doc, ok := specs[req.Spec]
	if !ok {
		data, err := os.ReadFile(req.Spec)
		if err != nil {
			return nil, err
		}
		doc = &spec3.OpenAPI{}
		if err := json.Unmarshal(data, doc); err != nil {
			return nil, err
		}
		specs[req.Spec] = doc
	}
	for _, c := range doc.Components.Schemas {
		var gvks []map[string]string
		if err := c.Extensions.GetObject("x-kubernetes-group-version-kind", &gvks); err != nil {
			continue
		}
		for _, g := range gvks {
			if g["group"] == req.Group && g["version"] == req.Version && g["kind"] == req.Kind {
				return strategicpatch.PatchMetaFromOpenAPIV3{Schema: c, SchemaList: doc.Components.Schemas}, nil
			}
		}
	}
	return nil, fmt.Errorf("kind not found")
}

func raw(m json.RawMessage) []byte {
	if len(m) == 0 || string(m) == "null" {
		return nil
	}
	return m
}

func handle(req request) map[string]interface{} {
	var patch, applied []byte
	var err error
	if req.JSON {
		pre := []mergepatch.PreconditionFunc{mergepatch.RequireKeyUnchanged("apiVersion"),
			mergepatch.RequireKeyUnchanged("kind"), mergepatch.RequireMetadataKeyUnchanged("name")}
		patch, err = jsonmergepatch.CreateThreeWayJSONMergePatch(raw(req.Original), raw(req.Modified), raw(req.Current), pre...)
		if err == nil {
			applied, err = jsonpatch.MergePatch(req.Current, patch)
		}
	} else {
		var meta strategicpatch.LookupPatchMeta
		meta, err = lookup(req)
		if err == nil {
			patch, err = strategicpatch.CreateThreeWayMergePatch(raw(req.Original), raw(req.Modified), raw(req.Current), meta, true)
		}
		if err == nil {
			applied, err = strategicpatch.StrategicMergePatchUsingLookupPatchMeta(req.Current, patch, meta)
		}
	}
	if err != nil {
		return map[string]interface{}{"error": err.Error()}
	}
	return map[string]interface{}{"patch": json.RawMessage(patch), "applied": json.RawMessage(applied)}
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64<<20), 64<<20)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			_ = out.Encode(map[string]interface{}{"error": err.Error()})
			continue
		}
		_ = out.Encode(handle(req))
	}
}
