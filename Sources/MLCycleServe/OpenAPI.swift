import Foundation
import MLCycleData
import MLCycleEvaluate
import MLCyclePrep

/// The OpenAPI 3.0 description of the native API, served at `/openapi.json`.
enum OpenAPI {
    static let document: String = """
        {
          "openapi": "3.0.3",
          "info": {"title": "mlcycle model server", "version": "\(MLCycleVersion.current)",
                   "description": "Predictions from registered models (by alias) or a bundle, feedback, health and metrics."},
          "paths": {
            "/health": {"get": {"summary": "Liveness", "responses": {"200": {"description": "alive", "content": {"application/json": {"schema": {"type": "object", "properties": {"status": {"type": "string"}}}}}}}}},
            "/ready": {"get": {"summary": "Readiness: at least one model loaded", "responses": {
              "200": {"description": "ready", "content": {"application/json": {"schema": {"type": "object"}}}},
              "503": {"description": "no model loaded", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text exposition format", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            "/v1/models": {"get": {"summary": "Served models", "responses": {"200": {"description": "the models", "content": {"application/json": {"schema": {
              "type": "object", "properties": {"models": {"type": "array", "items": {"$ref": "#/components/schemas/ModelSummary"}}}}}}}}}},
            "/v1/models/{name}": {"get": {"summary": "One model: input schema, version, metrics, lineage",
              "parameters": [{"$ref": "#/components/parameters/Name"}],
              "responses": {"200": {"description": "the model", "content": {"application/json": {"schema": {"type": "object"}}}},
                            "404": {"$ref": "#/components/responses/Error"}}}},
            "/v1/models/{name}/predict": {"post": {"summary": "Score rows (the columns of the model's input schema: see GET /v1/models/{name})",
              "parameters": [{"$ref": "#/components/parameters/Name"},
                             {"name": "key", "in": "query", "required": false, "schema": {"type": "string"}, "description": "sticky canary routing key"}],
              "requestBody": {"required": true, "content": {
                "application/json": {"schema": {"oneOf": [
                  {"type": "object", "required": ["records"], "additionalProperties": false,
                   "properties": {"records": {"type": "array", "minItems": 1, "items": {"type": "object"}}}},
                  {"type": "object", "required": ["columns", "data"], "additionalProperties": false,
                   "properties": {"columns": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                                  "data": {"type": "array", "minItems": 1, "items": {"type": "array", "minItems": 1, "items": {}}}}}]}},
                "text/csv": {"schema": {"type": "string"}}}},
              "responses": {
                "200": {"description": "one prediction per row", "content": {"application/json": {"schema": {"type": "object", "properties": {
                  "model": {"type": "string"}, "model_version": {"type": "string"},
                  "predictions": {"type": "array", "items": {"$ref": "#/components/schemas/Prediction"}}}}},
                  "text/csv": {"schema": {"type": "string"}}}},
                "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"},
                "404": {"$ref": "#/components/responses/Error"}, "413": {"$ref": "#/components/responses/Error"}}}},
            "/v1/feedback": {"post": {"summary": "Ground truth or a human override for earlier predictions",
              "requestBody": {"required": true, "content": {"application/json": {"schema": {"oneOf": [
                {"$ref": "#/components/schemas/Feedback"},
                {"type": "object", "required": ["feedback"], "additionalProperties": false,
                 "properties": {"feedback": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/Feedback"}}}}]}}}},
              "responses": {"200": {"description": "recorded", "content": {"application/json": {"schema": {"type": "object", "properties": {"recorded": {"type": "integer"}}}}}},
                            "400": {"$ref": "#/components/responses/Error"}, "503": {"$ref": "#/components/responses/Error"}}}},
            "/v1/admin/models/{name}/{action}": {"post": {"summary": "Promote (move an alias to a version) or roll back",
              "security": [{"bearer": []}],
              "parameters": [{"$ref": "#/components/parameters/Name"},
                             {"name": "action", "in": "path", "required": true, "schema": {"type": "string", "enum": ["promote", "rollback"]}}],
              "requestBody": {"content": {"application/json": {"schema": {"type": "object", "additionalProperties": false, "properties": {
                "version": {"type": "integer"}, "alias": {"type": "string"}, "reason": {"type": "string"}, "actor": {"type": "string"}}}}}},
              "responses": {"200": {"description": "the alias moved", "content": {"application/json": {"schema": {"type": "object"}}}},
                            "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"},
                            "404": {"$ref": "#/components/responses/Error"}, "409": {"$ref": "#/components/responses/Error"},
                            "503": {"$ref": "#/components/responses/Error"}}}}
          },
          "components": {
            "parameters": {"Name": {"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {"Error": {"description": "what to fix", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
            "schemas": {
              "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}, "field": {"type": "string"}, "row": {"type": "integer"}}},
              "ModelSummary": {"type": "object", "properties": {"name": {"type": "string"}, "version": {"type": "string"}, "task": {"type": "string"}, "target": {"type": "string"}}},
              "Prediction": {"type": "object", "required": ["id", "status", "model_version"], "properties": {
                "id": {"type": "string"}, "prediction": {"nullable": true}, "range": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
                "probabilities": {"type": "object", "additionalProperties": {"type": "number"}}, "model_version": {"type": "string"},
                "status": {"type": "string", "enum": ["ok", "unavailable"]}, "reasons": {"type": "array", "items": {"type": "string"}},
                "confidence": {"type": "string", "enum": ["normal", "low"]}, "warnings": {"type": "array", "items": {"type": "string"}}}},
              "Feedback": {"type": "object", "required": ["prediction_id", "actual"], "additionalProperties": false, "properties": {
                "prediction_id": {"type": "string", "minLength": 1}, "actual": {"oneOf": [{"type": "number"}, {"type": "string"}, {"type": "boolean"}]}, "source": {"type": "string", "enum": ["ground_truth", "override"]}}}
            }
          }
        }
        """
}

extension OpenAPI {
    /// The generic document, parsed once (a test checks it equals `docs/openapi.json`).
    static let generic: JSONValue = (try? JSONValue.parse(Data(document.utf8))) ?? .object([])

    /// The document for the models served now: each model's predict path gets its own request schema (its input
    /// columns and their types, from its bundle), so the description says exactly what the server accepts.
    static func document(for models: [ModelCatalog.Resolved]) -> Data {
        var doc = generic
        guard var paths = doc["paths"], let post = paths["/v1/models/{name}/predict"]?["post"] else {
            return Data(document.utf8)
        }
        if !models.isEmpty { paths.remove("/v1/models/{name}/predict") }
        for m in models {
            var properties = [(String, JSONValue)]()
            for c in m.bundle.inputSchema {
                var p: [(String, JSONValue)]
                switch c.type {
                case .float64: p = [("type", "number")]
                case .int64:
                    p = [
                        ("type", "integer"), ("minimum", .number(-9_000_000_000_000_000)),
                        ("maximum", .number(9_000_000_000_000_000)),
                    ]
                case .bool: p = [("type", "boolean")]
                case .string: p = [("type", "string")]
                case .date: p = [("type", "string"), ("format", "date")]
                case .timestamp: p = [("type", "string"), ("format", "date-time")]
                }
                p.append(("nullable", .bool(true)))
                properties.append((c.name, .object(p)))
            }
            properties.append((m.bundle.target, .object([])))  // a labelled row may carry its target; it is ignored
            let required = m.bundle.inputSchema.map(\.name).filter { m.bundle.pipelineNeeds($0) }
            let record: JSONValue = .object([
                ("type", "object"), ("additionalProperties", .bool(false)), ("properties", .object(properties)),
                ("required", .array(required.map(JSONValue.string))),
            ])
            var operation = post
            operation.set("summary", .string("Score rows with \(m.name)"))
            operation.set(
                "parameters",
                .array([
                    .object([
                        ("name", "key"), ("in", "query"), ("required", .bool(false)),
                        ("schema", .object([("type", "string")])), ("description", "sticky canary routing key"),
                    ])
                ]))
            operation.set(
                "requestBody",
                .object([
                    ("required", .bool(true)),
                    (
                        "content",
                        .object([
                            (
                                "application/json",
                                .object([
                                    (
                                        "schema",
                                        .object([
                                            ("type", "object"), ("required", .array(["records"])),
                                            ("additionalProperties", .bool(false)),
                                            (
                                                "properties",
                                                .object([
                                                    (
                                                        "records",
                                                        .object([
                                                            ("type", "array"), ("minItems", .number(1)),
                                                            ("maxItems", .number(10_000)), ("items", record),
                                                        ])
                                                    )
                                                ])
                                            ),
                                        ])
                                    )
                                ])
                            )
                        ])
                    ),
                ]))
            // (CSV bodies are accepted too — a header row of these columns, then rows — but JSON Schema cannot say so.)
            paths.set("/v1/models/\(m.name)/predict", .object([("post", operation)]))
        }
        doc.set("paths", paths)
        return (try? ModelServer.encoder.encode(doc)) ?? Data(document.utf8)
    }
}
