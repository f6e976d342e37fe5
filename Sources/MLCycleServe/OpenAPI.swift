import Foundation
import MLCycleData
import MLCycleEvaluate
import MLCycleLearn
import MLCyclePrep

/// The OpenAPI 3.0 description of the native API, served at `/openapi.json`.
enum OpenAPI {
    /// The generic document: `openapi.json` beside this file, compiled into the binary. Tests check that it parses,
    /// names this version of mlcycle and equals `docs/openapi.json`.
    static let generic: JSONValue = (try? JSONValue.parse(Data(PackageResources.openapi_json))) ?? [:]

    /// The document for the models served now: each model's predict path gets its own request schema (its input
    /// columns and their types, from its bundle), so the description says exactly what the server accepts.
    static func document(for models: [ModelCatalog.Resolved]) -> Data {
        var doc = generic
        if var paths = doc["paths"], let post = paths["/v1/models/{name}/predict"]?["post"], !models.isEmpty {
            paths.remove("/v1/models/{name}/predict")
            for m in models {
                paths.set("/v1/models/\(m.name)/predict", ["post": predictOperation(m, generic: post)])
            }
            doc.set("paths", paths)
        }
        if !models.isEmpty, var components = doc["components"], var schemas = components["schemas"],
            var feedback = schemas["Feedback"], var properties = feedback["properties"]
        {
            let outcome = outcomeSchema(models)
            properties.set("value", outcome)
            properties.set("actual", outcome)
            feedback.set("properties", properties)
            schemas.set("Feedback", feedback)
            components.set("schemas", schemas)
            doc.set("components", components)
        }
        return (try? ModelServer.encoder.encode(doc)) ?? Data(PackageResources.openapi_json)
    }

    /// What feedback may carry as a value for the models served now: a finite number when every one is a regression
    /// (the server refuses anything else for them), else a number, text or true/false (a classifier's label).
    static func outcomeSchema(_ models: [ModelCatalog.Resolved]) -> JSONValue {
        let finite: JSONValue = ["type": "number", "minimum": -1.0e308, "maximum": 1.0e308]
        if models.allSatisfy({ $0.bundle.task == .regression }) { return finite }
        return ["oneOf": [finite, ["type": "string"], ["type": "boolean"]]]
    }

    /// One model's predict operation: the generic one with a request schema made of the model's input columns.
    /// (CSV bodies are accepted too — a header row of these columns, then rows — but JSON Schema cannot say so.)
    static func predictOperation(_ m: ModelCatalog.Resolved, generic post: JSONValue) -> JSONValue {
        var properties = [(String, JSONValue)]()
        let lookedUp = Dictionary(
            m.bundle.lookedUpColumns.map { ($0.spec.name, $0.source) }, uniquingKeysWith: { a, _ in a })
        for c in m.plan.accepted {
            var p: JSONValue
            switch c.type {
            case .float64: p = ["type": "number"]
            case .int64: p = ["type": "integer", "minimum": -9_000_000_000_000_000, "maximum": 9_000_000_000_000_000]
            case .bool: p = ["type": "boolean"]
            case .string: p = ["type": "string"]
            case .date: p = ["type": "string", "format": "date"]
            case .timestamp: p = ["type": "string", "format": "date-time"]
            }
            p.set("nullable", true)
            if let source = lookedUp[c.name] {
                p.set("description", .string("Looked up in \(source) by the model; a value sent here is used instead."))
            }
            properties.append((c.name, p))
        }
        properties.append((m.bundle.target, [:]))  // a labelled row may carry its target; it is ignored
        let required = m.bundle.requestSchema.map(\.name).filter(m.plan.required.contains)
        let record: JSONValue = [
            "type": "object", "additionalProperties": false, "properties": .object(properties),
            "required": .array(required.map(JSONValue.string)),
        ]
        let records: JSONValue = ["type": "array", "minItems": 1, "maxItems": 10_000, "items": record]
        let body: JSONValue = [
            "type": "object", "required": ["records"], "additionalProperties": false,
            "properties": [
                "records": records,
                "explain": [
                    "type": "integer", "minimum": 0, "maximum": 1000,
                    "description": "how many contributions to show per answered row (largest first)",
                ],
            ],
        ]
        var operation = post
        operation.set("summary", .string("Score rows with \(m.name)"))
        if case .array(let parameters) = post["parameters"] {
            operation.set("parameters", .array(parameters.filter { $0["name"] == "key" || $0["name"] == "explain" }))
        }
        operation.set("requestBody", ["required": true, "content": ["application/json": ["schema": body]]])
        return operation
    }
}
