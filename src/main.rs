fn main() {
    println!("{}", bccreds::schema::manifest_schema_json());
    println!("{}", bccreds::schema::crd_yaml());
}
