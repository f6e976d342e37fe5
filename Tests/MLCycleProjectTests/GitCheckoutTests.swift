import Foundation
import Testing

@testable import MLCycleProject

/// The commit a run records, read from the repository's files as `git rev-parse HEAD` would name it.
struct GitCheckoutTests {
    let main = String(repeating: "a1", count: 20)
    let packed = String(repeating: "b2", count: 20)
    let detached = String(repeating: "c3", count: 20)

    /// A repository in a fresh folder, with these files under `.git`.
    func repository(_ files: [String: String]) throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("mlcycle-git-\(UUID().uuidString)")
        for (path, text) in files {
            let file = root.appendingPathComponent(".git/\(path)")
            try FileManager.default.createDirectory(
                at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: file, atomically: true, encoding: .utf8)
        }
        return root
    }

    @Test func aBranchIsReadLooseOrPacked() throws {
        let loose = try repository(["HEAD": "ref: refs/heads/main\n", "refs/heads/main": main + "\n"])
        #expect(GitCheckout.commit(of: loose.path) == main)
        let project = loose.appendingPathComponent("projects/house")
        try FileManager.default.createDirectory(at: project, withIntermediateDirectories: true)
        #expect(GitCheckout.commit(of: project.path) == main, "a folder inside the working tree")
        let gc = try repository([
            "HEAD": "ref: refs/heads/main\n",
            "packed-refs": "# pack-refs with: peeled fully-peeled sorted\n\(detached) refs/tags/v1\n^\(main)\n"
                + "\(packed) refs/heads/main\n",
        ])
        #expect(GitCheckout.commit(of: gc.path) == packed)
    }

    @Test func aDetachedHeadIsItsCommit() throws {
        #expect(GitCheckout.commit(of: try repository(["HEAD": detached + "\n"]).path) == detached)
    }

    @Test func aWorktreeHasItsOwnHeadAndTheSharedBranches() throws {
        let shared = try repository([
            "HEAD": "ref: refs/heads/main\n", "refs/heads/main": main, "refs/heads/feature": packed,
            "worktrees/feature/HEAD": "ref: refs/heads/feature\n", "worktrees/feature/commondir": "../..\n",
        ])
        let worktree = FileManager.default.temporaryDirectory.appendingPathComponent("mlcycle-wt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: worktree, withIntermediateDirectories: true)
        try "gitdir: \(shared.path)/.git/worktrees/feature\n".write(
            to: worktree.appendingPathComponent(".git"), atomically: true, encoding: .utf8)
        #expect(GitCheckout.commit(of: worktree.path) == packed)
    }

    @Test func noRepositoryOrNoCommitYetIsNil() throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("mlcycle-nogit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        #expect(GitCheckout.commit(of: empty.path) == nil)
        #expect(GitCheckout.commit(of: try repository(["HEAD": "ref: refs/heads/main\n"]).path) == nil)
        #expect(GitCheckout.commit(of: try repository(["HEAD": "not a commit\n"]).path) == nil)
    }
}
