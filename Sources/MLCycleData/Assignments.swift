/// `NAME=VALUE` options (`--param`, `--space`, `--type`, `--rule`): the one place such text is split.
public enum Assignments {
    /// The assignments in the order given; `option` and `form` are what the error names, e.g. `--type` and
    /// `COLUMN=TYPE`.
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
