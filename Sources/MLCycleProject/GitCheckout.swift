import Foundation

/// The commit checked out in the git working tree that holds a folder, read from the repository's files rather than
/// from a `git` child process (a child started while other threads open pipes can inherit them and hold them open).
enum GitCheckout {
    /// The commit `git -C directory rev-parse HEAD` names, or nil outside a repository or before its first commit.
    static func commit(of directory: String) -> String? {
        var folder = URL(fileURLWithPath: directory).standardizedFileURL
        while true {
            if let repository = repository(at: folder.appendingPathComponent(".git")) { return head(of: repository) }
            let parent = folder.deletingLastPathComponent()
            if parent.path == folder.path { return nil }
            folder = parent
        }
    }

    /// The repository a `.git` entry stands for: the folder itself, or the one a `gitdir: <path>` file names (a
    /// worktree, a submodule).
    static func repository(at dotGit: URL) -> URL? {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dotGit.path, isDirectory: &isFolder) else { return nil }
        if isFolder.boolValue { return dotGit }
        guard let text = read(dotGit), text.hasPrefix("gitdir:") else { return nil }
        return resolve(String(text.dropFirst("gitdir:".count)), in: dotGit.deletingLastPathComponent())
    }

    /// The commit HEAD names: itself when detached, else its branch's, loose or packed. A worktree keeps its own HEAD
    /// and shares the branches of the repository its `commondir` names.
    static func head(of repository: URL) -> String? {
        guard let head = read(repository.appendingPathComponent("HEAD")) else { return nil }
        guard head.hasPrefix("ref:") else { return isObjectName(head) ? head : nil }
        let branch = head.dropFirst("ref:".count).trimmingCharacters(in: .whitespaces)
        let shared = read(repository.appendingPathComponent("commondir")).map { resolve($0, in: repository) }
        let folders = [repository] + (shared.map { [$0] } ?? [])
        for folder in folders {
            if let commit = read(folder.appendingPathComponent(branch)), isObjectName(commit) { return commit }
        }
        for folder in folders {
            guard let packed = read(folder.appendingPathComponent("packed-refs")) else { continue }
            for line in packed.split(separator: "\n") where !line.hasPrefix("#") && !line.hasPrefix("^") {
                let fields = line.split(separator: " ")
                if fields.count == 2, fields[1] == branch, isObjectName(String(fields[0])) { return String(fields[0]) }
            }
        }
        return nil
    }

    static func read(_ file: URL) -> String? {
        (try? String(contentsOf: file, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func resolve(_ path: String, in folder: URL) -> URL {
        let path = path.trimmingCharacters(in: .whitespacesAndNewlines)
        return (path.hasPrefix("/") ? URL(fileURLWithPath: path) : folder.appendingPathComponent(path))
            .standardizedFileURL
    }

    /// A SHA-1 (40) or SHA-256 (64) object name in lower-case hex.
    static func isObjectName(_ text: String) -> Bool {
        (text.count == 40 || text.count == 64) && text.allSatisfy { $0.isHexDigit && !$0.isUppercase }
    }
}
