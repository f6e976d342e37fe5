import Foundation
import MLCycleData
import Testing

@testable import MLCycleLearn

@Suite struct KMeansTests {
    /// scikit-learn 1.9 `KMeans(n_clusters=4, n_init=10)`: the same inertia on well-separated blobs, and no worse
    /// than 0.5 % above it on house features (both sides keep the best of 10 k-means++ starts).
    @Test func inertiaMatchesScikitLearn() throws {
        let ref = try fixtureJSON("kmeans.json")
        let blobs = try fixtureTable("blobs.csv")
        let blobSchema = try FeatureSchema.infer(from: blobs, target: nil)
        let b = try KMeans(clusters: 4, restarts: 10, seed: 1).fit(
            schema: blobSchema, data: try blobSchema.encode(blobs))
        let blobRef = try #require((ref["blobs"] as? [String: Any])?["inertia"] as? Double)
        expectNear(b.inertia, blobRef, relative: 1e-9, "blob inertia")

        let houses = try fixtureTable("houses.csv")
        let features = try #require((ref["houses"] as? [String: Any])?["features"] as? [String])
        let table = try houses.selecting(features)
        let schema = try FeatureSchema.infer(from: table, target: nil)
        let h = try KMeans(clusters: 4, restarts: 10, seed: 1).fit(schema: schema, data: try schema.encode(table))
        let houseRef = try #require((ref["houses"] as? [String: Any])?["inertia"] as? Double)
        #expect(h.inertia <= houseRef * 1.005, "inertia \(h.inertia) vs scikit-learn \(houseRef)")
        #expect(h.clusterCount == 4)
    }

    @Test func deterministicAndConsistent() throws {
        let blobs = try fixtureTable("blobs.csv")
        let schema = try FeatureSchema.infer(from: blobs, target: nil)
        let data = try schema.encode(blobs)
        let a = try KMeans(parameters: ["n_clusters": "4", "n_init": "3", "seed": "9"]).fit(schema: schema, data: data)
        let b = try KMeans(parameters: ["n_clusters": "4", "n_init": "3", "seed": "9"]).fit(schema: schema, data: data)
        #expect(a == b)
        // The reported inertia is the sum of the squared distances of the rows to their assigned centres.
        let (labels, distances) = a.assign(data)
        expectNear(distances.reduce(0, +), a.inertia, relative: 1e-12, "inertia")
        #expect(Set(labels).count == 4)
        // Each blob of 50 rows lands in one cluster.
        for blob in 0..<4 { #expect(Set(labels[(blob * 50)..<(blob * 50 + 50)]).count == 1) }
        #expect(throws: LearnError.self) { _ = try KMeans(clusters: 300).fit(schema: schema, data: data) }
        #expect(throws: LearnError.self) { _ = try KMeans(parameters: ["clusters": "3"]) }
    }
}
