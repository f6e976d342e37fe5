/// `NAME=VALUE` options (`--param`, `--space`, `--type`, `--rule`): the one place such text is split.
public enum Assignments {
    /// The assignments as a dictionary (a repeated name keeps its last value); `option` and `form` are what the
    /// error names, e.g. `--type` and `COLUMN=TYPE`.
    public static func parse(_ texts: [String], option: String, form: String = "NAME=VALUE") throws -> [String: String]
    {
        var out = [String: String]()
        for (name, value) in try pairs(texts, option: option, form: form) { out[name] = value }
        return out
    }

    /// The assignments in the order given.
    public static func pairs(_ texts: [String], option: String, form: String = "NAME=VALUE") throws -> [(
        name: String, value: String
    )] {
        try texts.map { text in
            guard let eq = text.firstIndex(of: "="), eq != text.startIndex else {
                throw DataError.invalidArgument("\(option) takes \(form), got '\(text)'")
            }
            return (String(text[..<eq]), String(text[text.index(after: eq)...]))
        }
    }
}
