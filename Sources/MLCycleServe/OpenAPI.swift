import Foundation

/// The OpenAPI 3.0 description of the native API, served at `/openapi.json`.
enum OpenAPI {
    static let document: String = """
    {
      "openapi": "3.0.3",
      "info": {"title": "mlcycle model server", "version": "0.1.0",
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
    /// The document for the models served now: each model's predict path gets its own request schema (its input
    /// columns and their types), so the description says exactly what the server accepts.
    static func document(for models: [ModelCatalog.Resolved]) -> Data {
        guard var doc = (try? JSONSerialization.jsonObject(with: Data(document.utf8))) as? [String: Any],
              var paths = doc["paths"] as? [String: Any], let generic = paths["/v1/models/{name}/predict"] as? [String: Any],
              var post = generic["post"] as? [String: Any] else { return Data(document.utf8) }
        if !models.isEmpty { paths.removeValue(forKey: "/v1/models/{name}/predict") }
        for m in models {
            var properties = [String: Any]()
            for c in m.bundle.inputSchema {
                var p: [String: Any]
                switch c.type {
                case .float64: p = ["type": "number"]
                case .int64: p = ["type": "integer", "minimum": -9_000_000_000_000_000, "maximum": 9_000_000_000_000_000]
                case .bool: p = ["type": "boolean"]
                case .string: p = ["type": "string"]
                case .date: p = ["type": "string", "format": "date"]
                case .timestamp: p = ["type": "string", "format": "date-time"]
                }
                p["nullable"] = true
                properties[c.name] = p
            }
            properties[m.bundle.target] = [:] as [String: Any] // a labelled row may carry its target; it is ignored
            let required = m.bundle.inputSchema.map(\.name).filter { m.bundle.pipelineNeeds($0) }
            let record: [String: Any] = ["type": "object", "additionalProperties": false, "properties": properties, "required": required]
            post["summary"] = "Score rows with \(m.name)"
            post["parameters"] = [["name": "key", "in": "query", "required": false, "schema": ["type": "string"], "description": "sticky canary routing key"]]
            post["requestBody"] = ["required": true, "content": ["application/json": ["schema": [
                "type": "object", "required": ["records"], "additionalProperties": false,
                "properties": ["records": ["type": "array", "minItems": 1, "maxItems": 10_000, "items": record]]]]]]
            // (CSV bodies are accepted too — a header row of these columns, then rows — but JSON Schema cannot say so.)
            paths["/v1/models/\(m.name)/predict"] = ["post": post]
        }
        doc["paths"] = paths
        return (try? JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys])) ?? Data(document.utf8)
    }
}
