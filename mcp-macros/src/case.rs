//! Names of generated items.

/// `get_weather` -> `GetWeather`; leading and doubled underscores vanish.
pub(crate) fn upper_camel(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = true;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::upper_camel;

    #[test]
    fn camel_cases() {
        assert_eq!(upper_camel("add"), "Add");
        assert_eq!(upper_camel("get_weather"), "GetWeather");
        assert_eq!(upper_camel("_private_thing"), "PrivateThing");
        assert_eq!(upper_camel("kpi2_report"), "Kpi2Report");
        assert_eq!(upper_camel("a__b"), "AB");
        assert_eq!(upper_camel("already_Camel"), "AlreadyCamel");
    }
}
